"""/ops-restart <service>: ECS force new deployment. Runs under the service's lease (see dispatch)."""

from __future__ import annotations

from shared import messages
from shared.commands import RestartArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext


def run(args: RestartArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    cluster = ctx.settings.ecs_cluster
    with classify_aws_errors(f"cannot restart `{args.service}` in cluster `{cluster}`"):
        found = ctx.aws.ecs.describe_services(cluster=cluster, services=[args.service])["services"]
        if not [s for s in found if s.get("status") == "ACTIVE"]:
            raise PermanentJobError(f"there is no active ECS service `{args.service}` in cluster `{cluster}`")
        service = ctx.aws.ecs.update_service(cluster=cluster, service=args.service, forceNewDeployment=True)["service"]
    primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
    return messages.restart_started(
        args.service,
        cluster,
        primary["id"],
        primary.get("runningCount", 0),
        primary.get("desiredCount", 0),
        job.short_id,
    )
