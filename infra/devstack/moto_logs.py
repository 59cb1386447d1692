"""Logs Insights `filter` and query syntax for moto's CloudWatch Logs, applied only inside the local stack's
moto server (`python -m infra.devstack.moto_server`); moto itself is not modified on disk.

Syntax: CloudWatch's StartQuery refuses a query it cannot compile with `MalformedQueryException`; moto 5.2
accepts anything and answers rows of nothing (`stats count(*) by` gave 15 blank lines). `malformed_query`
checks what CloudWatch's grammar requires of each command (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/
CWL_QuerySyntax.html): a known command between pipes, `fields`/`display`/`sort`/`dedup` with a field, `limit`
with a count of 1 to 10,000, `stats` with an aggregate (and fields after `by`), closed quotes, regexes and
parentheses, and regexes that compile. It is a subset of the grammar: a query it passes may still be one
CloudWatch refuses, never the other way round for the queries opsbot builds.

Why: moto 5.2's query engine honours the time range (`--since`), `sort @timestamp` and `limit`, but skips
`filter`: `/ops-logs payment ERROR` showed every INFO line under a "matching `ERROR`" heading. This keeps
moto's engine and drops, before the limit, the events a `filter @message like /re/` (or `not like`, or a
quoted string) excludes. Other filter expressions are kept as moto has them (not applied).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

#: Logs Insights commands (CWL_QuerySyntax.html).
QUERY_COMMANDS = frozenset(
    {
        "fields",
        "display",
        "filter",
        "filterIndex",
        "stats",
        "sort",
        "limit",
        "parse",
        "dedup",
        "pattern",
        "unmask",
        "diff",
        "anomaly",
        "source",
        "unnest",
        "lookup",
    }
)
MAX_QUERY_LIMIT = 10_000
_REGEX_AFTER = ("like", "=~")
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


class MalformedQuery(ValueError):
    """What CloudWatch would answer a query it cannot compile, and where (a character offset)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _segments(query: str) -> list[tuple[int, str]]:
    """The commands between pipes (pipes inside quotes, regexes and parentheses do not count), each with
    its offset; `MalformedQuery` for an unclosed quote, regex or parenthesis."""
    segments: list[tuple[int, str]] = []
    start, depth, i = 0, 0, 0
    while i < len(query):
        char = query[i]
        before = query[start:i].split()
        regex_here = char == "/" and (
            (before and before[-1] in _REGEX_AFTER) or (before and before[0] == "parse" and len(before) >= 2)
        )
        if char in "\"'`" or regex_here:
            end = i + 1
            while end < len(query) and query[end] != char:
                end += 2 if query[end] == "\\" else 1
            if end >= len(query):
                what = "regex" if char == "/" else "quoted string"
                raise MalformedQuery(f"unterminated {what} starting at position {i}", i)
            if char == "/":
                _compiles(query[i + 1 : end], i)
            i = end + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise MalformedQuery(f"unexpected symbol found ) at line 1 and position {i}", i)
        elif char == "|" and depth == 0:
            segments.append((start, query[start:i]))
            start = i + 1
        i += 1
    if depth > 0:
        raise MalformedQuery(f"missing ) at line 1 and position {len(query)}", len(query))
    segments.append((start, query[start:]))
    return segments


def _compiles(pattern: str, offset: int) -> None:
    try:
        re.compile(re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern.replace("\\/", "/")))
    except re.error as exc:
        raise MalformedQuery(f"invalid regex /{pattern}/ at position {offset}: {exc}", offset) from None


def malformed_query(query: str) -> MalformedQuery | None:
    """Why CloudWatch Logs would refuse `query` (MalformedQueryException), or None if it reads it."""
    try:
        segments = _segments(query)
        for offset, segment in segments:
            _check_command(segment, offset + len(segment) - len(segment.lstrip()))
    except MalformedQuery as exc:
        return exc
    return None


def _check_command(segment: str, offset: int) -> None:
    words = segment.split()
    if not words:
        raise MalformedQuery(f"expected a command at line 1 and position {offset}", offset)
    command, rest = words[0], segment.strip()[len(words[0]) :].strip()
    if command not in QUERY_COMMANDS:
        raise MalformedQuery(f"unexpected symbol found {command} at line 1 and position {offset}", offset)
    if command in ("fields", "display", "dedup", "sort", "filter", "parse", "stats", "pattern") and not rest:
        raise MalformedQuery(
            f"{command} needs {'an expression' if command != 'sort' else 'a field'} at line 1 "
            f"and position {offset + len(command)}",
            offset + len(command),
        )
    if command == "limit" and not (rest.isdigit() and 1 <= int(rest) <= MAX_QUERY_LIMIT):
        raise MalformedQuery(f"limit takes a number from 1 to {MAX_QUERY_LIMIT}, got {rest!r}", offset)
    if command == "sort" and rest.split()[-1].lower() in ("asc", "desc") and len(rest.split()) == 1:
        raise MalformedQuery(f"sort needs a field before {rest.split()[-1]} at line 1 and position {offset}", offset)
    if command == "stats":
        if not re.search(r"[A-Za-z_]\w*\s*\(", rest):
            raise MalformedQuery(f"stats needs an aggregate function such as count(*) at position {offset}", offset)
        if re.search(r"\bby\s*$", rest):
            raise MalformedQuery(f"stats ... by needs a field after by at position {offset + len(segment)}", offset)


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
    return _refuse_malformed_queries(models)


def _refuse_malformed_queries(models: Any) -> bool:
    """StartQuery answers a query CloudWatch could not compile with MalformedQueryException, as CloudWatch does."""
    from moto.core.exceptions import JsonRESTError

    backend: Any = getattr(models, "LogsBackend", None)
    start_query = getattr(backend, "start_query", None)
    if backend is None or start_query is None:
        return False

    class MalformedQueryException(JsonRESTError):
        code = 400

        def __init__(self, problem: MalformedQuery) -> None:
            super().__init__("MalformedQueryException", str(problem))
            self.description = json.dumps(
                {
                    "__type": "MalformedQueryException",
                    "message": str(problem),
                    "queryCompileError": {
                        "location": {"startCharOffset": problem.offset, "endCharOffset": problem.offset},
                        "message": str(problem),
                    },
                }
            )

    def checked_start_query(
        self: Any, log_group_names: Any, start_time: Any, end_time: Any, query_string: str, *args: Any, **kwargs: Any
    ) -> str:
        problem = malformed_query(query_string)
        if problem is not None:
            raise MalformedQueryException(problem)
        return str(start_query(self, log_group_names, start_time, end_time, query_string, *args, **kwargs))

    backend.start_query = checked_start_query
    return True
