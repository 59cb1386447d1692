"""/ops-status <target>: health at a glance: running vs desired tasks and the last service events (ECS), or
instance state and status checks (EC2)."""

from __future__ import annotations

from shared.blockkit import SlackMessage, escape, humanize_seconds, shorten, with_footer
from shared.commands.builtin.status import StatusArgs
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.operations import OperationContext
from worker_function.operations._ecs import counts, describe_service, rollout_state
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.operations.restart import health_lines, instance_health, instances_of

#: Service events shown (ECS keeps the last 100).
EVENTS_SHOWN = 3


class StatusOperation:
    """The operation of `status` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions = (
        Grant(("ecs:DescribeServices",), on="ecs_service"),
        Grant(("ec2:DescribeInstanceStatus", "ec2:DescribeInstances"), on="ec2_instances", unscoped=True),
    )

    def run(self, args: StatusArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        target = ctx.inventory.target(args.target, "status")
        context = f"{target.environment} · job `{job.short_id}`"
        aws = ctx.aws_for(target, job)
        if target.ec2 is not None:
            health = instance_health(aws, instances_of(aws, target.ec2, "read"))
            healthy = all(h["state"] == "running" and h["instance"] == "ok" and h["system"] == "ok" for h in health)
            ok = sum(1 for h in health if h["state"] == "running")
            headline = f"`{args.target}`: {ok}/{len(health)} instances running" + (
                "" if healthy else ", not all healthy"
            )
            return with_footer(job_messages.outcome(healthy, headline, health_lines(health)), context)
        assert target.ecs is not None
        service = describe_service(aws, target.ecs, "read")
        running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
        primary = next((d for d in service.get("deployments", []) if d["status"] == "PRIMARY"), None)
        rolling = primary is not None and rollout_state(primary) != "COMPLETED"
        healthy = running >= desired and not rolling
        headline = (
            f"`{args.target}` ({target.ecs.cluster}/{target.ecs.service}): {running}/{desired} tasks running, "
            f"{service.get('pendingCount', 0)} pending, service {service.get('status')}"
        )
        lines = []
        if primary is not None:
            lines.append(f"Deployment `{primary['id']}` {rollout_state(primary).lower()}: {counts(primary)}")
        now = ctx.now()
        for event in service.get("events", [])[:EVENTS_SHOWN]:
            age = humanize_seconds((now - event["createdAt"]).total_seconds())
            lines.append(f"• {age} ago: {escape(shorten(event['message'], 300))}")
        return with_footer(job_messages.outcome(healthy if not rolling else None, headline, lines), context)


OPERATION: Operation[StatusArgs] = StatusOperation()
