"""/deploy-status <service>: the ECS service's deployments, PRIMARY first."""

from __future__ import annotations

from typing import Any

from shared import messages
from shared.commands import DeployStatusArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext


def run(args: DeployStatusArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    cluster = ctx.settings.ecs_cluster
    with classify_aws_errors(f"cannot read `{args.service}` in cluster `{cluster}`"):
        response = ctx.aws.ecs.describe_services(cluster=cluster, services=[args.service])
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise PermanentJobError(f"there is no ECS service `{args.service}` in cluster `{cluster}`")
    service = services[0]
    now = ctx.now()
    deployments = [
        _deployment_facts(d, now) for d in sorted(service["deployments"], key=lambda d: d["status"] != "PRIMARY")
    ]
    return messages.deploy_status(args.service, cluster, service["status"], deployments, job.short_id)


def _deployment_facts(deployment: dict[str, Any], now: Any) -> dict[str, Any]:
    created = deployment.get("createdAt")
    return {
        "status": deployment["status"],
        "rollout_state": deployment.get("rolloutState") or _rollout_from_counts(deployment),
        "running": deployment.get("runningCount", 0),
        "desired": deployment.get("desiredCount", 0),
        "pending": deployment.get("pendingCount", 0),
        "failed": deployment.get("failedTasks", 0),
        "task_definition": deployment["taskDefinition"].rsplit("/", 1)[-1],
        "age": messages.humanize_seconds((now - created).total_seconds()) if created else "?",
    }


def _rollout_from_counts(deployment: dict[str, Any]) -> str:
    """ECS leaves rolloutState out for services without the rolling-update circuit breaker."""
    done = deployment.get("runningCount", 0) >= deployment.get("desiredCount", 0)
    return "COMPLETED" if done else "IN_PROGRESS"
