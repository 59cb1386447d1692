"""/ops-scale <target> <count>: an ECS service's desired count, within the target's bounds (the inventory's
`min` / `max`, else the defaults), followed until the running count matches it. Runs under the target's lease,
once its prompt is confirmed (see the spec); the job's maximum age is its deadline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import blockkit
from shared.commands.builtin.scale import ScaleArgs
from shared.inventory_entries import EcsService
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext, Preview, StepResult, StepState, Wait
from worker_function.operations._ecs import describe_service
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.store.intents import Intent


class ScaleState(StepState):
    """The service a scale follows: the count it set and the one before."""

    cluster: str
    service: str
    desired: int
    previous: int


State = ScaleState


def tasks(service: dict[str, Any]) -> str:
    """`2/3 running, 1 pending` of a service (or of a deployment)."""
    return (
        f"{service.get('runningCount', 0)}/{service.get('desiredCount', 0)} running, "
        f"{service.get('pendingCount', 0)} pending"
    )


@dataclass(frozen=True)
class SetDesiredCount:
    """UpdateService with a desiredCount takes no client token and needs none: it is idempotent by nature (the
    same count set twice leaves the service as set once). Made is the service's desired count being the one
    asked for; when it is not, calling (again) is harmless. It still goes through the intent door, so it is
    recorded and reconciled like every other effect. The result carries the count before, from the intent that
    made it (a retry after the call sees the new count already)."""

    #: The target's clients (its account and region).
    aws: Clients
    ecs: EcsService
    count: int
    intent: Intent

    def call(self, intent: Intent) -> tuple[int, dict[str, Any]]:
        with classify_aws_errors(f"cannot scale `{self.ecs.service}` in cluster `{self.ecs.cluster}`"):
            updated = self.aws.once("ecs").update_service(
                cluster=self.ecs.cluster, service=self.ecs.service, desiredCount=self.count
            )
        return int(intent.before["desired"]), dict(updated["service"])

    def reconcile(self, intent: Intent) -> tuple[int, dict[str, Any]] | None:
        service = describe_service(self.aws, self.ecs, "follow the scale of")
        made = int(service.get("desiredCount", -1)) == self.count
        return (int(intent.before["desired"]), service) if made else None

    def assumed(self, intent: Intent) -> tuple[int, dict[str, Any]]:
        raise AssertionError("ECS shows its desired count: never unknowable")


class ScaleOperation:
    """The operation of `scale` (see the module's docstring)."""

    state = State
    effects = (SetDesiredCount,)
    permissions = (Grant(("ecs:DescribeServices", "ecs:UpdateService"), on="ecs_service"),)

    def run(self, args: ScaleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        target = ctx.inventory.target(args.target, "ecs")
        ecs, aws = target.ecs, ctx.aws_for(target, job)
        assert ecs is not None
        refusal = ecs.count_refusal(args.target, args.count)  # the ack refuses it too, when it has the inventory
        if refusal is not None:
            return job_messages.outcome(
                None, f"Scale of `{args.target}` refused: {blockkit.escape(refusal)} Nothing was run."
            )
        service = describe_service(aws, ecs, "scale")
        if service.get("status") != "ACTIVE":
            raise PermanentJobError(f"the ECS service `{ecs.service}` is {service.get('status')}, not ACTIVE")
        seen = str(service.get("desiredCount", 0))
        intent = ctx.intent(job, "ecs-desired-count", f"scale {ecs.service} to {args.count}", desired=seen)
        previous, scaled = ctx.effect(SetDesiredCount(aws, ecs, args.count, intent))
        headline = (
            f"Scale of `{args.target}` started (cluster {blockkit.echo(ecs.cluster)}): desired count {previous} → "
            f"{args.count}; {tasks(scaled)}."
        )
        state = ScaleState(
            cluster=ecs.cluster, service=ecs.service, desired=args.count, previous=previous, summary=tasks(scaled)
        )
        return Wait(progress=job_messages.progress(headline), state=state, delay_s=ctx.poll_delay())

    def resume(self, args: ScaleArgs, job: JobEnvelope, ctx: OperationContext, state: ScaleState) -> StepResult:
        ecs = EcsService(cluster=state.cluster, service=state.service)
        aws = ctx.aws_for(ctx.inventory.target(args.target, "ecs"), job)
        service = describe_service(aws, ecs, "follow the scale of")
        what, facts = f"Scale of `{args.target}`", tasks(service)
        desired = int(service.get("desiredCount", 0))
        if desired != state.desired:
            return job_messages.outcome(
                None,
                f"{what}: the desired count is now {desired}, not {state.desired}: something else changed it "
                f"({facts}).",
                in_channel=True,
            )
        if int(service.get("runningCount", 0)) == desired:
            headline = (
                f"{what} completed (cluster {blockkit.echo(ecs.cluster)}): {state.previous} → {desired} tasks, {facts}."
            )
            return job_messages.outcome(True, headline, in_channel=True)
        headline = f"{what} in progress: {state.previous} → {desired} tasks, {facts}."
        return Wait(
            progress=job_messages.progress(headline), state=state.changed(summary=facts), delay_s=ctx.poll_delay()
        )

    def preview(self, args: ScaleArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The service's counts now and its bounds, and the desired count that would be set."""
        target = ctx.inventory.target(args.target, "ecs")
        ecs, aws = target.ecs, ctx.aws_for(target, job)
        assert ecs is not None
        service = describe_service(aws, ecs, "read")
        now = [
            f"Service `{blockkit.escape(ecs.service)}` (cluster `{blockkit.escape(ecs.cluster)}`) "
            f"{blockkit.escape(service.get('status'))}: {tasks(service)}"
        ]
        refusal = ecs.count_refusal(args.target, args.count)
        if refusal is not None:
            return Preview(now=now, change=f"nothing: {blockkit.escape(refusal)}")
        change = (
            f"set the desired count of `{blockkit.escape(ecs.service)}` from {service.get('desiredCount', 0)} to "
            f"{args.count}, then follow it until {args.count} tasks run"
        )
        return Preview(now=now, change=change)


OPERATION: Resumable[ScaleArgs, Any] = ScaleOperation()
