"""/ops-freeze <environment> <reason> [--for 2h]: freeze an environment."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.commands.spec import Args, CommandSpec, Reason, TargetName
from shared.commands.words import duration_minutes, flag_words
from shared.errors import UsageError
from shared.holds import FREEZE_DEFAULT_MINUTES, FREEZE_MAX_MINUTES


class FreezeArgs(Args):
    kind: Literal["freeze"] = "freeze"
    #: An environment of the inventory's (prod, staging...).
    environment: TargetName
    reason: Reason
    #: How long the freeze lasts (`--for 2h`): 4 hours unless given, at most 7 days.
    for_minutes: int = Field(default=FREEZE_DEFAULT_MINUTES, ge=1, le=FREEZE_MAX_MINUTES)


def parse_freeze_words(words: list[str]) -> dict[str, Any]:
    """`<environment> <reason...> [--for 2h]` (`--for` anywhere after the environment)."""
    if not words:
        raise UsageError("/ops-freeze needs an environment and a reason.")
    values: dict[str, Any] = {"environment": words[0]}
    rest = words[1:]
    flags = flag_words(rest)
    if flags.count("--for") > 1:
        raise UsageError("--for is given twice; give it once, e.g. `--for 2h`.")
    if "--for" in flags:
        at = flags.index("--for")
        if at + 1 >= len(rest):
            raise UsageError("--for needs a duration such as 30m, 2h or 1d.")
        values["for_minutes"] = duration_minutes(rest[at + 1], "--for", FREEZE_MAX_MINUTES)
        rest = rest[:at] + rest[at + 2 :]
    if not rest:
        raise UsageError("/ops-freeze needs a reason after the environment, e.g. `/ops-freeze prod incident 42`.")
    values["reason"] = " ".join(rest)
    return values


SPEC = CommandSpec(
    name="/ops-freeze",
    args_model=FreezeArgs,
    description="Freeze an environment with a reason: every mutating command on it is refused until the "
    "freeze ends (--for, default 4h, at most 7d) or /ops-unfreeze.",
    usage_hint="<environment> <reason> [--for 2h]",
    parse_words=parse_freeze_words,
    subject="environment",
    accepts="environment",
    picker=False,
    field_words={"for_minutes": "--for"},
    rank=160,
)
