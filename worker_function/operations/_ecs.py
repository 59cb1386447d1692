"""ECS facts shared by the operations that read services: deployments and rollout state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import messages
from shared.inventory import EcsService
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError, classify_aws_errors


def describe_service(aws: Clients, ecs: EcsService, what: str) -> dict[str, Any]:
    """The ACTIVE (or DRAINING) service, or `PermanentJobError` when there is none. `aws`: the target's
    clients (`OperationContext.aws_for`)."""
    with classify_aws_errors(f"cannot {what} `{ecs.service}` in cluster `{ecs.cluster}`"):
        response = aws.ecs.describe_services(cluster=ecs.cluster, services=[ecs.service])
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise PermanentJobError(f"there is no ECS service `{ecs.service}` in cluster `{ecs.cluster}`")
    return dict(services[0])


def rollout_state(deployment: dict[str, Any]) -> str:
    """COMPLETED, FAILED or IN_PROGRESS. ECS leaves rolloutState out for services without the rolling-update
    circuit breaker: then running >= desired counts as completed."""
    state = deployment.get("rolloutState")
    if state:
        return str(state)
    done = deployment.get("runningCount", 0) >= deployment.get("desiredCount", 0)
    return "COMPLETED" if done else "IN_PROGRESS"


def deployment_facts(deployment: dict[str, Any], now: datetime) -> dict[str, Any]:
    created = deployment.get("createdAt")
    return {
        "status": deployment["status"],
        "rollout_state": rollout_state(deployment),
        "running": deployment.get("runningCount", 0),
        "desired": deployment.get("desiredCount", 0),
        "pending": deployment.get("pendingCount", 0),
        "failed": deployment.get("failedTasks", 0),
        "task_definition": deployment["taskDefinition"].rsplit("/", 1)[-1],
        "age": messages.humanize_seconds((now - created).total_seconds()) if created else "?",
    }


def counts(deployment: dict[str, Any]) -> str:
    failed = deployment.get("failedTasks", 0)
    return (
        f"{deployment.get('runningCount', 0)}/{deployment.get('desiredCount', 0)} running, "
        f"{deployment.get('pendingCount', 0)} pending" + (f", {failed} failed" if failed else "")
    )
