"""/ops-rollback <target> [revision]: an ECS service back to the previous task definition revision of its family
(or the one named), followed like a restart until its deployment is COMPLETED or FAILED, showing from -> to.
Runs under the target's lease, once its prompt is confirmed (see the spec). Three steps at least: choose the
revision, make the deployment (through the intent door), follow it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from shared import blockkit
from shared.commands.builtin.rollback import RollbackArgs
from shared.inventory_entries import EcsService
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext, Preview, StepResult, StepState, Wait
from worker_function.operations._ecs import (
    counts,
    deregistered,
    describe_service,
    follow_deployment,
    images,
    primary,
    revision_name,
    task_definition,
)
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.store.intents import Intent


class PlannedState(StepState):
    """A rollback chosen in the first step, made in the second: what was PRIMARY then, and where it goes. The
    choice is fixed before the effect, so a retry after the UpdateService (which changes what `choose` would
    find) makes the same intent and reconciles it."""

    kind: Literal["planned"] = "planned"
    cluster: str
    service: str
    seen_deployment: str
    task_definition: str
    previous: str
    #: The from -> to line (mrkdwn, escaped when made).
    moved: str


class FollowedState(StepState):
    """The deployment a rollback follows, and its from -> to line."""

    kind: Literal["followed"] = "followed"
    cluster: str
    service: str
    deployment: str
    moved: str


State = Annotated[PlannedState | FollowedState, Field(discriminator="kind")]


def tasks_of(service: dict[str, Any]) -> str:
    return f"{service.get('runningCount', 0)}/{service.get('desiredCount', 0)} tasks running"


def choose(args: RollbackArgs, running: dict[str, Any], aws: Clients) -> dict[str, Any] | str:
    """The ACTIVE task definition to roll back to, or why there is none (plain mrkdwn, escaped)."""
    family, revision = str(running["family"]), int(running["revision"])
    current = blockkit.echo(revision_name(running))
    if args.revision is None:
        if revision <= 1:
            return (
                f"it runs {current}, the first revision of its family: there is no previous revision to roll back to."
            )
        wanted, which = revision - 1, "the previous revision"
    elif args.revision.isdigit():
        wanted, which = int(args.revision), "revision"
    else:
        elsewhere = foreign_arn(args.revision, str(running.get("taskDefinitionArn") or ""))
        if elsewhere is not None:
            return (
                f"{blockkit.echo(args.revision, 200)} names {elsewhere}, and `{args.target}` runs in "
                f"{where_of(str(running.get('taskDefinitionArn') or ''))}: a rollback stays within the service's "
                "own account, region and family."
            )
        named = args.revision.rsplit("/", 1)[-1].rsplit(":", 1)
        if named[0] != family:
            return (
                f"{blockkit.echo(args.revision, 200)} is a revision of family {blockkit.echo(named[0])}, and "
                f"`{args.target}` runs family {blockkit.echo(family)}: a rollback stays within its family."
            )
        wanted, which = int(named[1]), "revision"
    name = blockkit.echo(f"{family}:{wanted}")
    if wanted == revision:
        return f"it already runs {name}."
    found = task_definition(aws, f"{family}:{wanted}", "read")
    if found is None and not deregistered(aws, family, wanted):
        return f"{which} {name} does not exist in ECS (it runs {current})."
    if found is None or found.get("status") != "ACTIVE":
        status = "INACTIVE" if found is None else found.get("status", "?")
        return (
            f"{which} {name} is deregistered ({blockkit.escape(status)}): ECS starts no tasks from "
            f"it. Name an active revision: `/ops-rollback {args.target} <revision>` (it runs {current})."
        )
    return found


def _arn_place(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN (`arn:PARTITION:ecs:REGION:ACCOUNT:...`); blanks if it is none."""
    parts = arn.split(":", 5)
    return (parts[1], parts[3], parts[4]) if len(parts) == 6 and parts[0] == "arn" else ("", "", "")


def where_of(arn: str) -> str:
    partition, region, account = _arn_place(arn)
    return f"account `{blockkit.escape(account)}`, region `{blockkit.escape(region)}` ({blockkit.escape(partition)})"


def foreign_arn(named: str, running_arn: str) -> str | None:
    """Where a named task definition ARN is (plain mrkdwn) when that is not where the service's own task
    definition is (its partition, region or account differ), else None. ECS's DescribeTaskDefinition would
    read only `family:revision` of an ARN of another account, so this is refused before asking it."""
    if _arn_place(named) == _arn_place(running_arn):
        return None
    return where_of(named)


def from_to(running: dict[str, Any], chosen: dict[str, Any]) -> str:
    """`payment:2` -> `payment:1`, with the images of each."""
    return (
        f"{blockkit.echo(revision_name(running))} → {blockkit.echo(revision_name(chosen))}; "
        f"image {images(running)} → {images(chosen)}"
    )


@dataclass(frozen=True)
class RollBack:
    """UpdateService with a taskDefinition (no client token): made is a PRIMARY deployment on the target task
    definition other than the deployment that was PRIMARY when the intent was written (the target's lease keeps
    other opsbot jobs off the service)."""

    #: The target's clients (its account and region).
    aws: Clients
    ecs: EcsService
    intent: Intent

    def call(self, intent: Intent) -> dict[str, Any]:
        with classify_aws_errors(f"cannot roll back `{self.ecs.service}` in cluster `{self.ecs.cluster}`"):
            updated = self.aws.once("ecs").update_service(
                cluster=self.ecs.cluster, service=self.ecs.service, taskDefinition=intent.before["task_definition"]
            )
        made = primary(updated["service"])
        if made is None:
            raise PermanentJobError(f"ECS shows no PRIMARY deployment of `{self.ecs.service}` after the rollback")
        return made

    def reconcile(self, intent: Intent) -> dict[str, Any] | None:
        found = primary(describe_service(self.aws, self.ecs, "follow the rollback of")) or {}
        made = found.get("taskDefinition") == intent.before.get("task_definition")
        return found if made and found.get("id") != intent.before.get("deployment") else None

    def assumed(self, intent: Intent) -> dict[str, Any]:
        raise AssertionError("ECS shows its deployments: never unknowable")


class RollbackOperation:
    """The operation of `rollback` (see the module's docstring)."""

    state = State
    effects = (RollBack,)
    permissions = (
        Grant(("ecs:DescribeServices", "ecs:UpdateService"), on="ecs_service"),
        Grant(("ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"), on="ecs_service", unscoped=True),
    )

    def run(self, args: RollbackArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        target = ctx.inventory.target(args.target, "ecs")
        ecs, aws = target.ecs, ctx.aws_for(target, job)
        assert ecs is not None
        service = describe_service(aws, ecs, "roll back")
        if service.get("status") != "ACTIVE":
            raise PermanentJobError(f"the ECS service `{ecs.service}` is {service.get('status')}, not ACTIVE")
        seen = primary(service) or {}
        running = task_definition(aws, str(seen.get("taskDefinition") or service.get("taskDefinition") or ""), "read")
        if running is None:
            raise PermanentJobError(f"ECS cannot describe the task definition `{ecs.service}` runs")
        chosen = choose(args, running, aws)
        if isinstance(chosen, str):
            return job_messages.outcome(None, f"Rollback of `{args.target}`: {chosen} Nothing was run.")
        moved = from_to(running, chosen)
        state = PlannedState(
            cluster=ecs.cluster,
            service=ecs.service,
            seen_deployment=str(seen.get("id", "")),
            task_definition=str(chosen["taskDefinitionArn"]),
            previous=str(running["taskDefinitionArn"]),
            moved=moved,
            summary=f"rolling back to {revision_name(chosen)}",
        )
        headline = f"Rollback of `{args.target}` (cluster {blockkit.echo(ecs.cluster)}): starting the deployment."
        return Wait(progress=job_messages.progress(headline, [moved]), state=state, delay_s=0)

    def resume(
        self, args: RollbackArgs, job: JobEnvelope, ctx: OperationContext, state: PlannedState | FollowedState
    ) -> StepResult:
        ecs = EcsService(cluster=state.cluster, service=state.service)
        aws = ctx.aws_for(ctx.inventory.target(args.target, "ecs"), job)
        if isinstance(state, FollowedState):
            return follow_deployment(
                ctx, aws, ecs, state.deployment, f"Rollback of `{args.target}`", state, [state.moved]
            )
        intent = ctx.intent(
            job,
            "ecs-rollback",
            f"roll back {ecs.service} to {state.task_definition.rsplit('/', 1)[-1]}",
            deployment=state.seen_deployment,
            task_definition=state.task_definition,
            previous=state.previous,
        )
        deployment = ctx.effect(RollBack(aws, ecs, intent))
        headline = (
            f"Rollback of `{args.target}` started (cluster {blockkit.echo(ecs.cluster)}): new deployment "
            f"`{deployment['id']}`, {counts(deployment)}."
        )
        followed = FollowedState(
            cluster=ecs.cluster,
            service=ecs.service,
            deployment=deployment["id"],
            moved=state.moved,
            summary=counts(deployment),
        )
        return Wait(progress=job_messages.progress(headline, [state.moved]), state=followed, delay_s=ctx.poll_delay())

    def preview(self, args: RollbackArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The revision the service runs now, and the one a rollback would deploy (or why there is none)."""
        target = ctx.inventory.target(args.target, "ecs")
        ecs, aws = target.ecs, ctx.aws_for(target, job)
        assert ecs is not None
        service = describe_service(aws, ecs, "read")
        seen = primary(service) or {}
        running = task_definition(aws, str(seen.get("taskDefinition") or service.get("taskDefinition") or ""), "read")
        now = [
            f"Service `{blockkit.escape(ecs.service)}` (cluster `{blockkit.escape(ecs.cluster)}`) "
            f"{blockkit.escape(service.get('status'))}: {tasks_of(service)}"
        ]
        if running is None:
            return Preview(now=now, change=f"nothing: ECS cannot describe the task definition `{ecs.service}` runs")
        now.append(f"Runs {blockkit.echo(revision_name(running))}, image {images(running)}")
        chosen = choose(args, running, aws)
        if isinstance(chosen, str):
            return Preview(now=now, change=f"nothing: {chosen}")
        change = f"deploy {from_to(running, chosen)}, then follow the deployment until its rollout completes"
        return Preview(now=now, change=change)


OPERATION: Resumable[RollbackArgs, Any] = RollbackOperation()
