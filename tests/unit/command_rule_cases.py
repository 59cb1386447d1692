"""Operations that each break one rule of the registry (and one that keeps them all), read by
tests/unit/test_command_rules.py: the source rules read this module's code, so it is a module of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.commands.spec import CommandSpec, TargetArgs
from worker_function.operations import Preview, StepState
from worker_function.operations.iam import Grant
from worker_function.store.intents import Intent


class FlushArgs(TargetArgs):
    kind: Literal["flush"] = "flush"


#: A mutating command (it names its target).
FLUSH = CommandSpec(
    name="/ops-flush",
    args_model=FlushArgs,
    description="Flush.",
    positional=("target",),
    target="target",
    subject="target",
    accepts="ecs",
)


@dataclass(frozen=True)
class Restarted:
    """A side effect through the door: made, and found made."""

    aws: Any
    intent: Intent

    def call(self, intent: Intent) -> dict[str, Any]:
        return dict(self.aws.once("ecs").update_service(cluster="c", service="s", forceNewDeployment=True))

    def reconcile(self, intent: Intent) -> dict[str, Any] | None:
        return None

    def assumed(self, intent: Intent) -> dict[str, Any]:
        raise AssertionError("never unknowable")


class NoReconcile:
    """A side effect that cannot be found made."""

    def call(self, intent: Intent) -> None: ...

    def assumed(self, intent: Intent) -> None: ...


class Good:
    effects = (Restarted,)
    permissions = (Grant(("ecs:DescribeServices", "ecs:UpdateService"), on="ecs_service"),)

    def run(self, args: Any, job: Any, ctx: Any) -> Any:
        ctx.aws.client("ecs").describe_services(cluster="c", services=["s"])
        return ctx.effect(Restarted(ctx.aws, ctx.intent(job, "restart", "restart s")))

    def preview(self, args: Any, job: Any, ctx: Any) -> Preview:
        ctx.aws.client("ecs").describe_services(cluster="c", services=["s"])
        return Preview(change="restart s")


class NoRun:
    effects = ()
    permissions = ()


class NoPreview:
    effects = ()
    permissions = ()

    def run(self, args: Any, job: Any, ctx: Any) -> Any: ...


class ResumeWithoutState(Good):
    def resume(self, args: Any, job: Any, ctx: Any, state: Any) -> Any: ...


class StateWithoutResume(Good):
    state = StepState


class StopWithoutResume(Good):
    def stop(self, args: Any, job: Any, ctx: Any, state: Any) -> Any: ...


class EffectWithoutReconcile(Good):
    effects = (Restarted, NoReconcile)


class UndeclaredCall(Good):
    """Calls ecs:UpdateService (in its effect) but declares only the read."""

    permissions = (Grant(("ecs:DescribeServices",), on="ecs_service"),)


class DeclaredTooMuch(Good):
    permissions = (Grant(("ecs:DescribeServices", "ecs:UpdateService", "ecs:DeleteService"), on="ecs_service"),)


def _scale_directly(aws: Any) -> None:
    aws.client("ecs").update_service(cluster="c", service="s", desiredCount=2)


class WriteOutsideEffect(Good):
    def run(self, args: Any, job: Any, ctx: Any) -> Any:
        _scale_directly(ctx.aws)
        return ctx.effect(Restarted(ctx.aws, ctx.intent(job, "restart", "restart s")))


class PreviewWrites(Good):
    def preview(self, args: Any, job: Any, ctx: Any) -> Preview:
        Restarted(ctx.aws, ctx.intent(job, "restart", "restart s")).call(ctx.intent(job, "restart", "restart s"))
        return Preview(change="restart s")


class OnceOutsideEffect(Good):
    permissions = (Grant(("ecs:DescribeServices", "ecs:UpdateService"), on="ecs_service"),)

    def run(self, args: Any, job: Any, ctx: Any) -> Any:
        ctx.aws.once("ecs").describe_services(cluster="c", services=["s"])
        return ctx.effect(Restarted(ctx.aws, ctx.intent(job, "restart", "restart s")))


class BadPermissions(Good):
    permissions = ("ecs:DescribeServices",)  # type: ignore[assignment]


#: As a command's operation would be found ("module:attribute"): a scale that does not declare what it calls.
UNDECLARED = UndeclaredCall()
