"""/ops-lock <target> <reason>: lock a target."""

from __future__ import annotations

from typing import Any, Literal

from shared.commands.spec import CommandSpec, Reason, TargetArgs
from shared.errors import UsageError


class LockArgs(TargetArgs):
    kind: Literal["lock"] = "lock"
    reason: Reason


def parse_lock_words(words: list[str]) -> dict[str, Any]:
    """`<target> <reason...>`: the reason is required (it is what everyone refused reads)."""
    if not words:
        raise UsageError("/ops-lock needs a target and a reason.")
    if len(words) < 2:
        raise UsageError("/ops-lock needs a reason after the target, e.g. `/ops-lock payment incident 42`.")
    return {"target": words[0], "reason": " ".join(words[1:])}


SPEC = CommandSpec(
    name="/ops-lock",
    args_model=LockArgs,
    description="Lock a target with a reason: its mutating commands are refused, naming you and why, until "
    "/ops-unlock (or 24 h).",
    usage_hint="<target> <reason>",
    parse_words=parse_lock_words,
    subject="target",
    accepts="target",
    picker=False,
    rank=140,
)
