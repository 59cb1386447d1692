"""OperationContext takes every dependency it hands out; operations run on recording fakes, no AWS or Slack."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from shared.commands import ApprovalRequestArgs, SettleArgs
from shared.jobs import JobEnvelope, Requester
from shared.settings import WorkerSettings
from worker_function.accounts import TargetAccounts
from worker_function.clients import AwsClients
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext, no_jenkins
from worker_function.operations.registry import load, operation_for
from worker_function.store.decisions import Decision

NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


class Recorder:
    """Every call made to it, in order, across all the fakes that share it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []


@dataclasses.dataclass
class FakeSlack:
    log: Recorder

    def chat_postMessage(self, **kwargs):
        self.log.calls.append(("slack.chat_postMessage", kwargs))
        return {"channel": kwargs["channel"], "ts": "1700000000.000100"}

    def chat_postEphemeral(self, **kwargs):
        self.log.calls.append(("slack.chat_postEphemeral", kwargs))

    def chat_update(self, **kwargs):
        self.log.calls.append(("slack.chat_update", kwargs))


@dataclasses.dataclass
class FakeQueue:
    log: Recorder

    def send(self, job, *, delay_seconds=0):
        self.log.calls.append(("queue.send", {"job": job, "delay_seconds": delay_seconds}))
        return "m-1"


@dataclasses.dataclass
class FakeDecisions:
    log: Recorder
    standing: Decision | None = None

    def open(self, prompt_id, channel, ts, *, approvers=(), rule=""):
        self.log.calls.append(("decisions.open", {"prompt_id": prompt_id, "ts": ts, "approvers": list(approvers)}))

    def claim(self, prompt_id, outcome, by=""):
        self.log.calls.append(("decisions.claim", {"prompt_id": prompt_id, "outcome": outcome}))
        if self.standing is not None:
            return self.standing
        return Decision(outcome=outcome, by=by, channel="C0APPR", ts="1.2", won=True)

    def get(self, prompt_id):
        return None


@dataclasses.dataclass
class FakeAudit:
    log: Recorder

    def record(self, job, event, detail=""):
        self.log.calls.append(("audit.record", {"job_id": job.job_id, "event": event, "detail": detail}))

    def record_all(self, job, notes):
        for event, detail in notes:
            self.record(job, event, detail)
        return []

    def history(self, target, *, limit=20):
        return []


class NoGroups:
    def members(self, group):
        return None


class NoHolds:
    """No lock or freeze stands anywhere (the store's read side as the operations and a dry run use it)."""

    def __init__(self, hold=None):
        self.hold = hold

    def hold_on(self, target, environment):
        return self.hold

    def facts(self, target, environment):
        return None, None


class FakeJobs:
    """The registry of jobs, remembering what it was told (not in the call log: the order asserted is Slack's)."""

    def __init__(self):
        self.tracked, self.ended = [], []

    def track(self, record, *, first=False):
        self.tracked.append(record)

    def end(self, job_id, state, outcome, by="", *, cancel_job=""):
        self.ended.append((job_id, state, outcome))

    def get(self, job_id):
        return None

    def find(self, short_id):
        return []

    def active(self):
        return []


def context(log: Recorder, **overrides) -> OperationContext:
    settings = WorkerSettings(jobs_queue_url="https://sqs.example/jobs")
    deps = {
        "settings": settings,
        "aws": AwsClients(settings),
        "now": lambda: NOW,
        "sleep": lambda s: None,
        "intents": object(),
        "inventory": None,
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


def job(args) -> JobEnvelope:
    return JobEnvelope(
        job_id="0123456789abcdef0123456789abcdef",
        command="/ops-migrate",
        text="payment",
        args=args,
        requester=Requester(user_id="U0ALICE", team_id="T1", channel_id="C1"),
        issued_at=NOW,
        correlation_id="c",
    )


def test_every_dependency_is_required():
    required = [f.name for f in dataclasses.fields(OperationContext) if f.default is dataclasses.MISSING]
    assert {"audit", "slack", "decisions", "queue", "groups", "jenkins_factory", "inventory", "holds"} <= set(required)
    with pytest.raises(TypeError, match="decisions"):
        OperationContext(**{k: None for k in required if k != "decisions"})


def test_an_approval_request_queues_its_expiry_before_posting_and_records_where_the_message_is():
    log = Recorder()
    args = ApprovalRequestArgs(token="t", approvers=["U0BOB"], channel="C0APPR", rule="prod", job_id="a" * 32)

    operation_for("approval_request").run(args, job(args), context(log))

    assert [name for name, _ in log.calls] == ["queue.send", "slack.chat_postMessage", "decisions.open"]
    expiry = log.calls[0][1]["job"]
    assert expiry.kind == "settle" and expiry.args.prompt_id == "a" * 32 and expiry.args.outcome == "expired"
    assert log.calls[2][1] == {"prompt_id": "a" * 32, "ts": "1700000000.000100", "approvers": ["U0BOB"]}


def test_an_expiry_that_wins_closes_the_approval_message_and_is_audited():
    log = Recorder()
    args = SettleArgs(prompt_id="b" * 32, outcome="expired", approval=True, not_before=0)

    said = operation_for("settle").run(args, job(args), context(log))

    assert [name for name, _ in log.calls] == ["decisions.claim", "slack.chat_update", "audit.record"]
    assert log.calls[2][1]["event"] == "expired" and "expired" in said.text.lower()


def test_an_expiry_that_lost_tells_nobody_and_audits_nothing():
    log = Recorder()
    args = SettleArgs(prompt_id="b" * 32, outcome="expired", approval=True, not_before=0)
    ctx = context(log, decisions=FakeDecisions(log, standing=Decision(outcome="approved", won=False)))

    said = operation_for("settle").run(args, job(args), ctx)

    assert [name for name, _ in log.calls] == ["decisions.claim"] and said.nothing is True


def test_a_worker_without_jenkins_fails_a_build_permanently():
    with pytest.raises(PermanentJobError, match="no Jenkins is configured"):
        _ = context(Recorder()).jenkins


def test_every_control_message_has_its_own_handler_apart_from_the_commands():
    from shared.commands import CONTROL_PIPELINES

    for kind in CONTROL_PIPELINES:
        handler = load(kind)
        assert handler.location == f"worker_function.control.{kind}:OPERATION" and callable(handler.operation.run), kind
    assert load("restart").location == "worker_function.operations.restart:OPERATION"
