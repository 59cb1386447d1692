"""/ops-logs <target> [--since 15m] [query]: recent log lines (CloudWatch Logs Insights)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.commands.spec import CommandSpec, TargetArgs
from shared.commands.words import duration_minutes, flag_word
from shared.errors import UsageError


class LogsArgs(TargetArgs):
    kind: Literal["logs"] = "logs"
    #: How far back to look, in minutes (`--since 15m`, `2h`, `1d`; at most 7 days).
    since_minutes: int = Field(default=15, ge=1, le=7 * 1440)
    #: Text to look for, or a Logs Insights query (starting with fields/filter/stats/...).
    query: str = Field(default="", max_length=1000)


def parse_logs_words(words: list[str]) -> dict[str, Any]:
    """`<target> [--since 15m] [query words...]`."""
    if not words:
        raise UsageError("/ops-logs needs a target.")
    values: dict[str, Any] = {"target": words[0]}
    rest = words[1:]
    if rest and flag_word(rest[0]) == "--since":
        if len(rest) < 2:
            raise UsageError("--since needs a duration such as 15m, 2h or 1d.")
        values["since_minutes"] = duration_minutes(rest[1], "--since", 7 * 1440)
        rest = rest[2:]
    if rest:
        values["query"] = " ".join(rest)
    return values


SPEC = CommandSpec(
    name="/ops-logs",
    args_model=LogsArgs,
    description="Recent log lines of a target (CloudWatch Logs Insights), newest first; text to look for "
    "or an Insights query.",
    usage_hint="<target> [--since 15m] [query]",
    parse_words=parse_logs_words,
    subject="target",
    accepts="logs",
    reads_only=True,
    field_words={"since_minutes": "--since", "query": "the query"},
    rank=70,
)
