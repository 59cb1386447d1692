"""/ops-unfreeze <environment>: end an environment's freeze."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import Args, CommandSpec, TargetName


class UnfreezeArgs(Args):
    kind: Literal["unfreeze"] = "unfreeze"
    environment: TargetName


SPEC = CommandSpec(
    name="/ops-unfreeze",
    args_model=UnfreezeArgs,
    description="End an environment's freeze.",
    positional=("environment",),
    usage_hint="<environment>",
    subject="environment",
    accepts="environment",
    rank=170,
)
