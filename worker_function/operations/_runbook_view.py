"""A runbook's execution as one message: each state with its status and duration, the current one highlighted,
failures with their error and cause (escaped, bounded), the console link. Pure: history events in, message out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared import blockkit
from worker_function import job_messages

#: At most this many states are listed (the last ones: where the execution is); the others are counted.
MAX_ROWS = 20
#: Error and cause as shown: bounded, whatever the task said.
MAX_ERROR = 100
MAX_CAUSE = 300

#: Failure events and the detail key holding their error and cause.
_FAILURES = {
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}
_ICONS = {
    "succeeded": ":white_check_mark:",
    "running": ":arrow_forward:",
    "waiting": ":raising_hand:",
    "failed": ":x:",
    "stopped": ":black_square_for_stop:",
}
#: How each final status reads, and whether it is a success (None: stopped).
ENDINGS: dict[str, tuple[str, bool | None]] = {
    "SUCCEEDED": ("succeeded", True),
    "FAILED": ("failed", False),
    "TIMED_OUT": ("timed out", False),
    "ABORTED": ("was stopped", None),
}


@dataclass
class StateRow:
    name: str
    entered: datetime
    exited: datetime | None = None
    status: str = "running"
    times: int = 1
    error: str = ""
    cause: str = ""


@dataclass
class Execution:
    """What the history says: the states in the order entered (a state entered again is one row, counted)."""

    rows: list[StateRow] = field(default_factory=list)
    error: str = ""
    cause: str = ""


#: GetExecutionHistory pages read per look (1,000 events each): a bound on one step's work.
MAX_HISTORY_PAGES = 10


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's history events, oldest first, paged (at most `MAX_HISTORY_PAGES`), without the states' data."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_HISTORY_PAGES):
        page = sfn.get_execution_history(
            executionArn=execution_arn,
            maxResults=1000,
            includeExecutionData=False,
            **({"nextToken": token} if token else {}),
        )
        events.extend(page.get("events") or [])
        token = page.get("nextToken")
        if not token:
            break
    return events


def read_history(events: Iterable[Mapping[str, Any]]) -> Execution:
    reader = _Reader()
    for event in events:
        reader.read(event)
    return reader.found


@dataclass
class _Reader:
    found: Execution = field(default_factory=Execution)
    by_name: dict[str, StateRow] = field(default_factory=dict)
    current: StateRow | None = None

    def read(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type", ""))
        at = event.get("timestamp")
        if kind.endswith("StateEntered"):
            self._entered(str((event.get("stateEnteredEventDetails") or {}).get("name", "?")), at)
        elif kind.endswith("StateExited"):
            row = self.by_name.get(str((event.get("stateExitedEventDetails") or {}).get("name", "?")))
            if row is not None:
                row.exited = at
                row.status = "failed" if row.status == "failed" else "succeeded"
            self.current = None
        elif kind == "TaskSubmitted" and self.current is not None and self.current.status == "running":
            resource = str((event.get("taskSubmittedEventDetails") or {}).get("resource", ""))
            if resource.endswith(".waitForTaskToken"):
                self.current.status = "waiting"
        elif kind in _FAILURES:
            self._failed(kind, event.get(_FAILURES[kind]) or {}, at)

    def _entered(self, name: str, at: Any) -> None:
        row = self.by_name.get(name)
        if row is None:
            row = self.by_name[name] = StateRow(name=name, entered=at)
            self.found.rows.append(row)
        else:
            row.times += 1
            row.entered, row.exited, row.status, row.error, row.cause = at, None, "running", "", ""
        self.current = row

    def _failed(self, kind: str, details: Mapping[str, Any], at: Any) -> None:
        error, cause = str(details.get("error", "") or ""), str(details.get("cause", "") or "")
        current = self.current
        if kind.startswith("Execution"):
            self.found.error, self.found.cause = error, cause
            if current is not None and current.exited is None:
                current.status = "stopped" if kind == "ExecutionAborted" else "failed"
                current.exited = at
        elif current is not None:
            current.status, current.error, current.cause = "failed", error or kind, cause


def console_url(execution_arn: str) -> str:
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 3 else "us-east-1"
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{quote(execution_arn, safe=':')}"
    )


def _duration(row: StateRow, now: datetime) -> str:
    end = row.exited or now
    seconds = max(0.0, (end - row.entered).total_seconds()) if row.entered else 0.0
    return f"{seconds:.1f}s" if seconds < 10 else blockkit.humanize_seconds(seconds)


def _failure(error: str, cause: str) -> str:
    text = f"`{blockkit.escape(blockkit.shorten(error, MAX_ERROR))}`" if error else ""
    if cause:
        text += (": " if text else "") + blockkit.escape(blockkit.shorten(cause, MAX_CAUSE))
    return text


def state_lines(execution: Execution, now: datetime) -> list[str]:
    """One line per state, newest last, the running one in bold; bounded to the last `MAX_ROWS`."""
    rows = execution.rows[-MAX_ROWS:]
    lines = [f"_{len(execution.rows) - len(rows)} earlier states not shown_"] if len(execution.rows) > MAX_ROWS else []
    for row in rows:
        name = blockkit.escape(blockkit.shorten(row.name, 80))
        again = f" x{row.times}" if row.times > 1 else ""
        what = {"waiting": "waiting for a person", "running": "running"}.get(row.status, row.status)
        line = f"{_ICONS.get(row.status, ':grey_question:')} "
        line += f"*{name}*{again} · {what}" if row.status in ("running", "waiting") else f"{name}{again} · {what}"
        line += f" · {_duration(row, now)}"
        if row.status == "failed" and (row.error or row.cause):
            line += " — " + _failure(row.error, row.cause)
        lines.append(line)
    return lines


def progress_message(title: str, execution: Execution, execution_arn: str, now: datetime) -> Any:
    """The headline names the current state (what the message's text, and so its resend, changes with: a state
    going by, not a second ticking)."""
    lines = state_lines(execution, now) or ["_starting_"]
    current = next((r for r in reversed(execution.rows) if r.exited is None), None)
    where = ""
    if current is not None:
        what = "waiting for a person" if current.status == "waiting" else "running"
        where = f": {what} at *{blockkit.escape(blockkit.shorten(current.name, 80))}*"
    return job_messages.progress(
        f"{title} is running{where}.", lines, link=console_url(execution_arn), label="execution"
    )


def final_message(
    title: str,
    status: str,
    execution: Execution,
    execution_arn: str,
    took_s: float,
    now: datetime,
    error: str = "",
    cause: str = "",
) -> Any:
    words, ok = ENDINGS.get(status, (status.lower(), False))
    details: Sequence[str] = state_lines(execution, now)
    why = _failure(error or execution.error, cause or execution.cause)
    headline = f"{title} {words} in {blockkit.humanize_seconds(took_s)}." + (
        f" {why}" if why and ok is not True else ""
    )
    return job_messages.outcome(
        ok, headline, details, link=console_url(execution_arn), label="execution", in_channel=True
    )
