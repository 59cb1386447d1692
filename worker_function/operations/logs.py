"""/ops-logs <target> [--since 15m] [query]: CloudWatch Logs Insights over the target's log groups, newest
first, as a compact table. `start_query`, then `get_query_results` until it completes: inside the step
for a few seconds, then as continuations (a long query never keeps a Lambda waiting)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.blockkit import (
    MAX_SECTION_TEXT,
    SlackMessage,
    code_block,
    context_block,
    echo,
    escape,
    fallback_text,
    section_block,
    shorten,
    simple,
)
from shared.commands.builtin.logs import LogsArgs
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.errors import classify_aws_errors
from worker_function.operations import OperationContext, StepResult, StepState, Wait
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable

#: Lines asked of Insights, and lines shown in Slack (the rest are counted).
QUERY_LIMIT = 100
ROWS_SHOWN = 15
#: Seconds between two looks at a running query.
QUERY_POLL_S = 1.0
_INSIGHTS_COMMANDS = ("fields", "filter", "stats", "sort", "limit", "parse", "display", "dedup", "pattern")
_DONE_BAD = ("Failed", "Cancelled", "Timeout", "Unknown")


class State(StepState):
    """The Logs Insights query a job waits for."""

    query_id: str


def insights_query(text: str) -> str:
    """The Logs Insights query for what was typed: a query as is; plain text becomes a filter on @message."""
    text = text.strip()
    if text.split(" ", 1)[0].lower() in _INSIGHTS_COMMANDS:
        return text if re.search(r"\blimit\s+\d+", text) else f"{text} | limit {QUERY_LIMIT}"
    base = "fields @timestamp, @message"
    if text:
        pattern = re.escape(text).replace("/", r"\/")
        base += f" | filter @message like /{pattern}/"
    return f"{base} | sort @timestamp desc | limit {QUERY_LIMIT}"


def since_label(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def _look(args: LogsArgs, job: JobEnvelope, ctx: OperationContext, state: State, *, inline: bool) -> StepResult:
    deadline = time.monotonic() + (ctx.settings.inline_wait_s if inline else 0)
    logs = ctx.aws_for(ctx.inventory.target(args.target, "logs"), job).client("logs")
    while True:
        with classify_aws_errors(f"cannot read the logs query of `{args.target}`"):
            result = logs.get_query_results(queryId=state.query_id)
        status = result.get("status", "Unknown")
        if status == "Complete":
            return _table(args, job, result)
        if status in _DONE_BAD:
            return job_messages.outcome(False, f"The logs query on `{args.target}` ended {status.lower()}.")
        if time.monotonic() >= deadline:
            return Wait(
                progress=job_messages.progress(f"Querying the logs of `{args.target}` ({status.lower()})…"),
                state=state.changed(summary=f"query {status.lower()}"),
                delay_s=ctx.poll_delay(QUERY_POLL_S),
            )
        ctx.sleep(QUERY_POLL_S)


def _table(args: LogsArgs, job: JobEnvelope, result: dict[str, Any]) -> SlackMessage:
    rows = [{f["field"]: f.get("value", "") for f in row} for row in result.get("results", [])]
    shown = [(_when(r.get("@timestamp", "")), _message_of(r)) for r in rows[:ROWS_SHOWN]]
    matched = max(int((result.get("statistics") or {}).get("recordsMatched") or 0), len(rows))
    return log_table(args.target, shown, matched, since_label(args.since_minutes), args.query, job.short_id)


def _message_of(row: dict[str, str]) -> str:
    if "@message" in row:
        return row["@message"].strip().replace("\n", " ")
    return " ".join(f"{k}={v}" for k, v in row.items() if k not in ("@ptr", "@timestamp"))


def _when(value: str) -> str:
    """Insights gives `2024-05-01 12:00:00.000` (moto: epoch milliseconds): shown as HH:MM:SS UTC."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%H:%M:%S")
    return value[11:19] if len(value) >= 19 else value


class LogsOperation:
    """The operation of `logs` (see the module's docstring)."""

    state = State
    effects: tuple[type, ...] = ()
    permissions = (
        Grant(("logs:StartQuery",), on="log_group", changes_nothing=True),
        Grant(("logs:GetQueryResults",), on="log_group", unscoped=True),
    )

    def run(self, args: LogsArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        target = ctx.inventory.target(args.target, "logs")
        end = ctx.now()
        start = int(end.timestamp()) - args.since_minutes * 60
        query = insights_query(args.query)
        try:
            query_id = (
                ctx.aws_for(target, job)
                .client("logs")
                .start_query(
                    logGroupNames=target.log_groups,
                    startTime=start,
                    endTime=int(end.timestamp()),
                    queryString=query,
                    limit=QUERY_LIMIT,
                )["queryId"]
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "MalformedQueryException":  # what they typed: told so, not a failure of ours
                problem = str(error.get("Message") or "the query does not compile")
                return log_query_malformed(job.display, query, problem, job.short_id)
            with classify_aws_errors(f"cannot query the logs of `{args.target}`"):
                raise
        return _look(args, job, ctx, State(query_id=query_id), inline=True)

    def resume(self, args: LogsArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> StepResult:
        return _look(args, job, ctx, state, inline=True)


OPERATION: Resumable[LogsArgs, Any] = LogsOperation()


#: /ops-logs shows at most this many code blocks of lines, then how many more.
LOG_SECTIONS = 8


def log_query_malformed(display: str, query: str, problem: str, short_id: str) -> SlackMessage:
    """CloudWatch Logs Insights could not read the query (MalformedQueryException): nothing was searched."""
    text = (
        f":no_entry: {echo(display)}: CloudWatch Logs Insights cannot read the query "
        f"{echo(query, 300)}: {escape(shorten(problem, 300))}. Nothing was searched."
    )
    hint = (
        "Words that do not start with a command (fields, filter, stats, sort, limit, parse...) are searched for "
        "as they are; a query is commands joined by `|`. "
        "<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html|Query syntax>"
    )
    return simple(text, hint, f"job `{escape(short_id)}`")


def log_table(
    target: str, rows: Sequence[tuple[str, str]], matched: int, since: str, query: str, short_id: str
) -> SlackMessage:
    """Log lines as a compact table (time, message), newest first, in code blocks they cannot close; what did
    not fit is counted."""
    header = f"*Logs of {echo(target)}* since {escape(since)}" + (f", matching {echo(query)}" if query else "")
    width = 160
    lines = [shorten(f"{shorten(when, 30)}  {' '.join(msg.split())}", width) for when, msg in rows]
    tables: list[str] = []
    chunk: list[str] = []
    shown = 0
    for line in lines:
        if chunk and len(code_block([*chunk, line])) > MAX_SECTION_TEXT - 20:
            tables.append(code_block(chunk))
            chunk = []
            if len(tables) == LOG_SECTIONS:
                break
        chunk.append(line)
        shown += 1
    if chunk:
        tables.append(code_block(chunk))
    left_out = matched - shown
    more = f"…and {left_out} more line{'s' if left_out != 1 else ''} not shown." if left_out > 0 else ""
    body = [section_block(t) for t in tables] or [section_block("_No log lines._")]
    context = [m for m in (more, f"job `{short_id}`") if m]
    text = fallback_text(header, *(tables or ["_No log lines._"]), more)
    return SlackMessage(text=text, blocks=[section_block(header), *body, context_block(*context)])
