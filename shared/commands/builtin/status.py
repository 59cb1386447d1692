"""/ops-status <target>: a target's health at a glance."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import CommandSpec, TargetArgs


class StatusArgs(TargetArgs):
    kind: Literal["status"] = "status"


SPEC = CommandSpec(
    name="/ops-status",
    args_model=StatusArgs,
    description="Health at a glance: running vs desired tasks or instance state and status checks, last events.",
    positional=("target",),
    usage_hint="<target>",
    subject="target",
    accepts="status",
    reads_only=True,
    rank=20,
)
