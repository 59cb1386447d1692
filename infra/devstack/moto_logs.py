"""Logs Insights `filter` for moto's CloudWatch Logs, applied only inside the local stack's moto server
(`python -m infra.devstack.moto_server`); moto itself is not modified on disk.

Why: moto 5.2's query engine honours the time range (`--since`), `sort @timestamp` and `limit`, but skips
`filter`: `/ops-logs payment ERROR` showed every INFO line under a "matching `ERROR`" heading. This keeps
moto's engine and drops, before the limit, the events a `filter @message like /re/` (or `not like`, or a
quoted string) excludes. Other filter expressions are kept as moto has them (not applied).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_FILTER = re.compile(r"\|\s*filter\s+@message\s+(not\s+)?like\s+(/(?P<re>(?:\\/|[^/])*)/|\"(?P<text>[^\"]*)\")")


def message_filters(query: str) -> list[Callable[[str], bool]]:
    """The `filter @message [not] like /re/` and `like "text"` clauses of a query, as predicates."""
    tests: list[Callable[[str], bool]] = []
    for match in _FILTER.finditer(query):
        pattern = re.compile(match["re"].replace("\\/", "/")) if match["re"] is not None else None
        text = match["text"]
        negate = match.group(1) is not None

        def test(
            message: str, pattern: re.Pattern[str] | None = pattern, text: str | None = text, negate: bool = negate
        ) -> bool:
            found = pattern.search(message) is not None if pattern is not None else (text or "") in message
            return found != negate

        tests.append(test)
    return tests


def apply() -> bool:
    """Make moto's `execute_query` apply the query's `@message` filters; False if moto's layout differs."""
    try:
        from moto.logs import logs_query, models
    except ImportError:
        return False
    create = getattr(logs_query, "_create_parsed_events", None)
    if create is None or not hasattr(models, "execute_query"):
        return False

    def execute_query(log_groups: list[Any], query: str, start_time: int, end_time: int) -> list[dict[str, str]]:
        parsed = logs_query.parse_query(query)
        tests = message_filters(query)
        events = [e for e in create(log_groups, parsed, start_time, end_time) if all(t(e.event.message) for t in tests)]
        fields = [e.fields for e in sorted(events, reverse=parsed.sort_reversed())]
        return fields[: parsed.limit] if parsed.limit else fields

    models.execute_query = execute_query
    return True
