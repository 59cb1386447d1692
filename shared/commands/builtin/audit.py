"""/ops-audit <target>: a target's recent history."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import Args, CommandSpec, TargetName


class AuditArgs(Args):
    kind: Literal["audit"] = "audit"
    target: TargetName


SPEC = CommandSpec(
    name="/ops-audit",
    args_model=AuditArgs,
    description="Recent history of a target: requests, denials, confirmations, starts and outcomes.",
    positional=("target",),
    usage_hint="<target>",
    reads_only=True,
    reads_about="target",
    rank=110,
)
