"""/ops-unlock <target>: lift a target's lock."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import CommandSpec, TargetArgs


class UnlockArgs(TargetArgs):
    kind: Literal["unlock"] = "unlock"


SPEC = CommandSpec(
    name="/ops-unlock",
    args_model=UnlockArgs,
    description="Lift a target's lock (yours, or any if the policy's lock rule admits you).",
    positional=("target",),
    usage_hint="<target>",
    subject="target",
    accepts="target",
    rank=150,
)
