"""Driving the local stack for the benchmarks: commands as Slack sends them, bursts from another process,
final messages as the local Slack receives them, and executions as the worker logs them."""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import OUT_DIR, ROOT, TEAM_ID, python, run_json_subprocess

QUEUED = re.compile(r"queued as job `([0-9a-f]{8})`")
#: The dispatcher's lines for a step that ran: its last ("executed ... (step N)") or one that waits for the next.
_STEP_DONE = re.compile(r"^executed .*\(step (\d+)\)")
_STEP_WAITS = re.compile(r"^step (\d+) of ")
_RECEIVED = re.compile(r"^received .*\(attempt (\d+)\)")
DISPATCH_LOGGER = "worker_function"


def configure_logging(path: Path = OUT_DIR / "bench.log") -> Path:
    """Warnings and errors of the stack (urllib3 pool warnings, poller retries, ...) go to a file, not the table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path for h in root.handlers):
        handler = logging.FileHandler(path, mode="a")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"))
        root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    # Powertools keeps metric dimensions process-wide: workers of several pollers in one process (the local
    # stack's stand-in for Lambda concurrency) overwrite each other's, and it warns. One sandbox per
    # invocation on Lambda never does.
    warnings.filterwarnings("ignore", message=r"Dimension '.*' has already been added")
    return path


@dataclass(frozen=True)
class Execution:
    job_id: str
    busy: bool
    failed: bool
    message: str
    at: float
    thread: int = 0


class ExecutionCounter(logging.Handler):
    """Counts the worker's "executed ..." records (one per real execution of an operation, busy refusals and
    permanent failures included), keyed by the `job_id` the dispatcher attaches to each record; and, for
    jobs that run in steps, every step that ran (`steps`: job id, step, message)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.executions: list[Execution] = []
        self.steps: list[tuple[str, int, str]] = []
        #: Jobs whose one run logged "executed" twice (a permanent failure, then the success line).
        self.double_logged: set[str] = set()
        #: "received <job> (attempt N)" lines: every delivery the worker saw, duplicates included.
        self.deliveries: list[tuple[str, int]] = []
        self._lock_ = threading.Lock()
        self._saved: list[tuple[logging.Handler, int]] = []
        self._saved_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        received = _RECEIVED.match(message)
        if received is not None:
            with self._lock_:
                self.deliveries.append((str(getattr(record, "job_id", "")), int(received.group(1))))
            return
        step = _STEP_DONE.match(message) or _STEP_WAITS.match(message)
        if step is not None:
            with self._lock_:
                self.steps.append((str(getattr(record, "job_id", "")), int(step.group(1)), message))
        if not message.startswith("executed "):
            return
        execution = Execution(
            job_id=str(getattr(record, "job_id", "")),
            busy="is busy" in message,
            failed="failed permanently" in message,
            message=message,
            at=record.created,
            thread=record.thread or 0,
        )
        with self._lock_:
            self.executions.append(execution)

    def attach(self) -> ExecutionCounter:
        """Listen on the dispatcher's logger at INFO; its own (Powertools) handlers are held at WARNING
        meanwhile, so the job's info lines are counted here, not printed."""
        logger = logging.getLogger(DISPATCH_LOGGER)
        self._saved_level = logger.level
        current: logging.Logger | None = logger
        while current is not None:  # every handler an INFO record of this logger would reach
            for handler in current.handlers:
                if handler is not self and all(h is not handler for h, _ in self._saved):
                    self._saved.append((handler, handler.level))
                    handler.setLevel(max(handler.level, logging.WARNING))
            current = current.parent if current.propagate else None
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def detach(self) -> None:
        logger = logging.getLogger(DISPATCH_LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._saved_level)
        for handler, level in self._saved:
            handler.setLevel(level)
        self._saved.clear()

    def by_job(self) -> dict[str, list[Execution]]:
        """Executions per job, one per run of a step. A run that failed permanently (a busy target, say) and
        then also logged its "executed ... (step N)" line in the same thread right after is one run logged
        twice (see `double_logged`), not two."""
        with self._lock_:
            out: dict[str, list[Execution]] = {}
            last: dict[int, Execution] = {}
            for execution in self.executions:
                before = last.get(execution.thread)
                last[execution.thread] = execution
                if (
                    before is not None
                    and before.job_id == execution.job_id
                    and _is_failure_line(before)
                    and _STEP_DONE.match(execution.message)
                ):
                    self.double_logged.add(execution.job_id)
                    continue
                out.setdefault(execution.job_id, []).append(execution)
            return out


def _is_failure_line(execution: Execution) -> bool:
    """An "executed" line that is not the success line: a permanent failure or an unknown name."""
    return _STEP_DONE.match(execution.message) is None


@dataclass(frozen=True)
class Command:
    """One Slack request as the benchmark plans it. Its job id is what the ack derives from team + trigger_id."""

    id: int
    command: str
    text: str
    user_id: str
    key: str
    trigger_id: str

    @property
    def job_id(self) -> str:
        from shared.jobs import job_id_for

        return job_id_for(TEAM_ID, self.trigger_id)

    @property
    def line(self) -> str:
        return f"{self.command} {self.text}".strip()


def new_command(index: int, command: str, text: str = "", user_id: str = "U0BENCH") -> Command:
    from infra.devstack.slack_request import random_trigger_id

    return Command(index, command, text, user_id, secrets.token_urlsafe(12), random_trigger_id())


def signed_request(cmd: Command, slack_url: str, secret: str, *, request_id: int, retry_num: int = 0) -> dict[str, Any]:
    """What the sender posts: the form body and Slack's headers. A retry is the same body (same trigger_id, so
    the same job), signed again with a new timestamp and marked with X-Slack-Retry-Num."""
    from infra.devstack.slack_request import SlashCommand, signed_slash_command

    slash = SlashCommand(
        command=cmd.command,
        text=cmd.text,
        response_url=f"{slack_url}/response/{cmd.key}",
        user_id=cmd.user_id,
        user_name=cmd.user_id.lower(),
        team_id=TEAM_ID,
        trigger_id=cmd.trigger_id,
    )
    signed = signed_slash_command(slash, secret)
    headers = dict(signed.headers)
    if retry_num:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return {"id": request_id, "body": signed.body.decode(), "headers": headers}


def send_bursts(
    url: str,
    bursts: Sequence[Sequence[dict[str, Any]]],
    *,
    concurrency: int,
    pause_s: float = 0.0,
    timeout_s: float = 10,
) -> dict[str, Any]:
    """Send the bursts from a separate process (bench/sender.py) and return its results."""
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-send-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "results.json"
        spec = {"url": url, "concurrency": concurrency, "pause_s": pause_s, "timeout_s": timeout_s, "bursts": bursts}
        spec_path.write_text(json.dumps(spec))
        total = sum(len(b) for b in bursts)
        budget = 60 + total * timeout_s / max(1, concurrency) + pause_s * len(bursts)
        run_json_subprocess(
            [python(), str(ROOT / "bench" / "sender.py"), str(spec_path), str(out_path)],
            env=_sender_env(),
            timeout=budget,
        )
        result: dict[str, Any] = json.loads(out_path.read_text())
        return result


def _sender_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    return env


def ack_text(body: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    return str(payload.get("text", "")) if isinstance(payload, dict) else body


@dataclass
class FinalWatch:
    """Final messages per job id, read from the in-process local Slack."""

    finals: dict[str, list[Any]] = field(default_factory=dict)
    messages: list[Any] = field(default_factory=list)
    last_seq: int = 0

    def poll(self, slack: Any) -> None:
        for record in slack.messages(after=self.last_seq):
            self.last_seq = max(self.last_seq, record.seq)
            self.messages.append(record)
            if record.final and record.job_id:
                self.finals.setdefault(record.job_id, []).append(record)

    def wait(self, slack: Any, job_ids: Iterable[str], timeout_s: float) -> bool:
        """Until every job has a final message (True) or the timeout (False)."""
        wanted = set(job_ids)
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll(slack)
            if wanted <= self.finals.keys():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def last_final_at(self, job_ids: Iterable[str]) -> float:
        return max((r.received_at for j in job_ids for r in self.finals.get(j, [])[:1]), default=float("nan"))
