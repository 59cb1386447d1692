"""/ops-rollback <target> [revision]: an ECS service back to an earlier task definition."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.commands.spec import HOUR, CommandSpec, TargetArgs

#: `/ops-rollback <target> [revision]`: a revision number of the service's family, or a task definition ARN.
TASK_DEFINITION_ARN = (
    r"arn:aws(-cn|-us-gov)?:ecs:[a-z0-9-]{1,32}:[0-9]{12}:task-definition/[A-Za-z0-9_-]{1,255}:[1-9][0-9]{0,8}"
)
_REVISION = rf"^([1-9][0-9]{{0,8}}|{TASK_DEFINITION_ARN})$"


class RollbackArgs(TargetArgs):
    kind: Literal["rollback"] = "rollback"
    #: The revision to go back to (its number, or the task definition's ARN); the one before the current when
    #: left out. That an ARN names the service's own family is checked by the worker (the ack does not ask ECS).
    revision: str | None = Field(default=None, pattern=_REVISION)


SPEC = CommandSpec(
    name="/ops-rollback",
    args_model=RollbackArgs,
    description="Roll an ECS service back to the previous task definition revision of its family (or the one "
    "named) and follow the deployment until it completes.",
    positional=("target", "revision"),
    optional=1,
    usage_hint="<target> [revision]",
    target="target",
    subject="target",
    accepts="ecs",
    max_age_s=HOUR,
    confirm=True,
    field_words={"revision": "the revision"},
    pattern_words={
        "revision": (
            "the revision is a revision number such as 3 or a task definition ARN (arn:aws:ecs:REGION:ACCOUNT:"
            "task-definition/FAMILY:3)"
        )
    },
    rank=50,
)
