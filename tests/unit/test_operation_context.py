"""OperationContext takes every dependency it hands out; operations run on recording fakes, no AWS or Slack."""

from __future__ import annotations

import dataclasses

import pytest

from opsbot_testkit.context import NOW, FakeDecisions, MemoryIntents, Recorder, fake_context
from shared.commands import ApprovalRequestArgs, SettleArgs
from shared.jobs import JobEnvelope, Requester
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext
from worker_function.operations.registry import load, operation_for
from worker_function.store.decisions import Decision


def context(log: Recorder, **overrides) -> OperationContext:
    return fake_context(log, **{"intents": object(), **overrides})


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

    operation_for("approval_request").run(args, job(args), context(log, intents=MemoryIntents(log)))

    # The post is a side effect without a client token: its intent is written before it.
    posted = ["queue.send", "intents.write", "slack.chat_postMessage", "decisions.open"]
    assert [name for name, _ in log.calls] == posted
    expiry = log.calls[0][1]["job"]
    assert expiry.kind == "settle" and expiry.args.prompt_id == "a" * 32 and expiry.args.outcome == "expired"
    assert log.calls[3][1] == {"prompt_id": "a" * 32, "ts": "1700000000.000100", "approvers": ["U0BOB"]}


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
