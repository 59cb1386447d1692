"""Recording fakes for an operation's unit tests: `fake_context()` is an `OperationContext` whose every dependency
records what it was given (no AWS, no Slack), with an intent store in memory so `ctx.effect(...)` works as in the
worker: the intent written first, a second attempt reconciled."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opsbot_testkit.lambda_context import FakeLambdaContext
from shared.commands import find_command
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester
from shared.settings import WorkerSettings
from worker_function.accounts import TargetAccounts
from worker_function.clients import AwsClients
from worker_function.operations import OperationContext, no_jenkins
from worker_function.store.decisions import Decision
from worker_function.store.intents import Intent

__all__ = [
    "NOW",
    "FakeAudit",
    "FakeDecisions",
    "FakeJobs",
    "FakeLambdaContext",
    "FakeQueue",
    "FakeSlack",
    "MemoryIntents",
    "NoGroups",
    "NoHolds",
    "Recorder",
    "fake_context",
    "fake_job",
]

#: The fakes' clock: what `ctx.now()` answers unless a test passes its own.
NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


class Recorder:
    """Every call made to it, in order, across all the fakes that share it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclasses.dataclass
class FakeSlack:
    log: Recorder

    def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.log.calls.append(("slack.chat_postMessage", kwargs))
        return {"channel": kwargs["channel"], "ts": "1700000000.000100"}

    def chat_postEphemeral(self, **kwargs: Any) -> None:
        self.log.calls.append(("slack.chat_postEphemeral", kwargs))

    def chat_update(self, **kwargs: Any) -> None:
        self.log.calls.append(("slack.chat_update", kwargs))

    def views_publish(self, **kwargs: Any) -> None:
        self.log.calls.append(("slack.views_publish", kwargs))


@dataclasses.dataclass
class FakeQueue:
    log: Recorder

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str:
        self.log.calls.append(("queue.send", {"job": job, "delay_seconds": delay_seconds}))
        return "m-1"


@dataclasses.dataclass
class FakeDecisions:
    log: Recorder
    standing: Decision | None = None

    def open(self, prompt_id: str, channel: str, ts: str, *, approvers: Any = (), rule: str = "") -> None:
        self.log.calls.append(("decisions.open", {"prompt_id": prompt_id, "ts": ts, "approvers": list(approvers)}))

    def claim(self, prompt_id: str, outcome: str, by: str = "") -> Decision:
        self.log.calls.append(("decisions.claim", {"prompt_id": prompt_id, "outcome": outcome}))
        if self.standing is not None:
            return self.standing
        return Decision(outcome=outcome, by=by, channel="C0APPR", ts="1.2", won=True)

    def get(self, prompt_id: str) -> None:
        return None


@dataclasses.dataclass
class FakeAudit:
    log: Recorder

    def record(self, job: JobEnvelope, event: str, detail: str = "") -> None:
        self.log.calls.append(("audit.record", {"job_id": job.job_id, "event": event, "detail": detail}))

    def record_all(self, job: JobEnvelope, notes: Any) -> list[Any]:
        for event, detail in notes:
            self.record(job, event, detail)
        return []

    def history(self, target: str, *, limit: int = 20) -> list[Any]:
        return []


class NoGroups:
    def members(self, group: str) -> None:
        return None


class NoHolds:
    """No lock or freeze stands anywhere (the store's read side as the operations and a dry run use it)."""

    def __init__(self, hold: Any = None) -> None:
        self.hold = hold

    def hold_on(self, target: str, environment: str | None) -> Any:
        return self.hold

    def facts(self, target: str, environment: str | None) -> tuple[Any, Any]:
        return None, None


class FakeJobs:
    """The registry of jobs, remembering what it was told (not in the call log: the order asserted is Slack's)."""

    def __init__(self) -> None:
        self.tracked: list[Any] = []
        self.ended: list[tuple[str, str, str]] = []

    def track(self, record: Any, *, first: bool = False) -> None:
        self.tracked.append(record)

    def end(self, job_id: str, state: str, outcome: str, by: str = "", *, cancel_job: str = "") -> None:
        self.ended.append((job_id, state, outcome))

    def get(self, job_id: str) -> None:
        return None

    def find(self, short_id: str) -> list[Any]:
        return []

    def active(self) -> list[Any]:
        return []


@dataclass
class MemoryIntents:
    """The intent store in memory: `write` refuses a second intent of the same key (returning the first), as the
    DynamoDB one's conditional put does, so a test can replay a step and see its effect reconciled."""

    log: Recorder | None = None
    stored: dict[str, Intent] = field(default_factory=dict)

    def write(self, intent: Intent) -> Intent | None:
        if self.log is not None:
            self.log.calls.append(("intents.write", {"key": intent.key}))
        if intent.key in self.stored:
            return self.stored[intent.key]
        stamped = intent.model_copy(update={"written_at": intent.written_at or NOW.timestamp(), "attempt": "a"})
        self.stored[intent.key] = stamped
        return None

    def forget(self, intent: Intent) -> None:
        self.stored.pop(intent.key, None)

    def made(self, job_id: str, last_step: int) -> list[Intent]:
        return sorted((i for i in self.stored.values() if i.job_id == job_id), key=lambda i: (i.step, i.written_at))


def fake_context(
    log: Recorder | None = None, *, inventory: Inventory | None = None, **overrides: Any
) -> OperationContext:
    """An `OperationContext` of recording fakes (all sharing `log`); AWS clients are real boto3 clients built on
    first use (pass `aws` / `accounts` pointed at moto, or stub the calls with botocore's Stubber)."""
    log = log if log is not None else Recorder()
    settings = overrides.pop("settings", None) or WorkerSettings(jobs_queue_url="https://sqs.example/jobs")
    deps: dict[str, Any] = {
        "settings": settings,
        "aws": AwsClients(settings),
        "now": lambda: NOW,
        "sleep": lambda seconds: None,
        "intents": MemoryIntents(log),
        "inventory": inventory,
        "jenkins_factory": no_jenkins,
        "audit": FakeAudit(log),
        "slack": FakeSlack(log),
        "decisions": FakeDecisions(log),
        "queue": FakeQueue(log),
        "groups": NoGroups(),
        "jobs": FakeJobs(),
        "accounts": TargetAccounts(settings),
        "leases": object(),
        "holds": NoHolds(),
    }
    return OperationContext(**{**deps, **overrides})


def fake_job(line: str, *, user_id: str = "U0ALICE", confirmed: bool = True, issued_at: datetime = NOW) -> JobEnvelope:
    """The job the ack would queue for a command line as typed (`/cdn-invalidate web /index.html`): parsed by its
    spec, confirmed by its requester when it asks to be."""
    name, _, text = line.strip().partition(" ")
    spec = find_command(name)
    if spec is None:
        raise ValueError(f"{name!r} is not a command (is its plugin installed?)")
    job_id = uuid.uuid4().hex
    return JobEnvelope(
        job_id=job_id,
        command=spec.name,
        text=text,
        args=spec.parse(text),
        requester=Requester(user_id=user_id, user_name="alice", team_id="T0001", channel_id="C0OPS"),
        issued_at=issued_at,
        correlation_id=job_id,
        confirmed_by=user_id if spec.confirm and confirmed else None,
    )
