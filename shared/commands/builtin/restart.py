"""/ops-restart <target>: restart an ECS service or reboot EC2 instances."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import HOUR, CommandSpec, TargetArgs


class RestartArgs(TargetArgs):
    kind: Literal["restart"] = "restart"


SPEC = CommandSpec(
    name="/ops-restart",
    args_model=RestartArgs,
    description="Restart a target: ECS force new deployment followed until it completes, or EC2 reboot "
    "followed until status checks pass (one mutating job per target at a time).",
    positional=("target",),
    usage_hint="<target>",
    target="target",
    subject="target",
    accepts="restartable",
    max_age_s=HOUR,
    rank=40,
)
