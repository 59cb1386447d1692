"""Round trips per job (issue 15): DynamoDB calls by operation, and connections reused, counted on moto server.

The worker is built as the Lambda builds it, on a boto3 Session whose `before-call` hook counts every
DynamoDB call by operation (whichever store makes it); connections are counted where they are opened
(`socket.connect` audit events to moto's port, the Slack clients' pool). The figures are asserted exactly,
so a change that adds a round trip fails here instead of only in `python -m bench --only worker`.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.devstack.aws import aws_client
from opsbot_testkit.harness import Harness
from tests.fakes import FakeLambdaContext
from worker_function.app import build_dispatcher
from worker_function.clients import AwsClients
from worker_function.dispatch import Dispatcher
from worker_function.slack_http import PooledWebClient

#: (port, count) of the connections opened while a test counts them (an audit hook cannot be removed, so
#: one hook for the session writes here only while `_CONNECTS` holds a port).
_CONNECTS: dict[int, int] = {}


def _count_connects(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _CONNECTS:
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in _CONNECTS:
            _CONNECTS[address[1]] += 1


sys.addaudithook(_count_connects)


class DynamoCalls:
    """A botocore `before-call` hook: DynamoDB calls by operation name."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        if model.service_model.service_name == "dynamodb":
            self.calls[model.name] += 1

    def take(self) -> dict[str, int]:
        taken, self.calls = dict(self.calls), Counter()
        return taken


def counted_worker(harness: Harness) -> tuple[Dispatcher, DynamoCalls]:
    settings = harness.settings()
    session = harness.worker_session()
    calls = DynamoCalls()
    session.events.register("before-call", calls)
    worker = build_dispatcher(
        settings, aws=AwsClients(settings, session=session), inventory=harness.inventory, now=harness.clock.now
    )
    worker.start_invocation(FakeLambdaContext())
    return worker, calls


def audit_events(harness: Harness, job_id: str) -> list[str]:
    items = aws_client("dynamodb", harness.moto.endpoint_url).scan(TableName=harness.tables.audit)["Items"]
    return [i["event"]["S"] for i in sorted(items, key=lambda i: i["sk"]["S"]) if i["job_id"]["S"] == job_id]


@pytest.mark.parametrize("line", ["/ops-ping", "/ops-status payment", "/deploy-status payment", "/ops-help"])
def test_a_job_that_only_reads_costs_five_dynamodb_calls(harness, line):
    worker, calls = counted_worker(harness)
    worker.handle_record(harness.job("/ops-ping").to_message(), 1)  # the clients' first calls out of the way
    calls.take()
    job = harness.job(line)

    worker.handle_record(job.to_message(), 1)

    # One idempotency record (INPROGRESS, then COMPLETED with the outcome and the reply), the message's
    # intent, its send through the response_url counted before it is made (so a retry told `used_url` knows
    # whether its own earlier send took a use), and the job's audit records (request, start, outcome) in one batch.
    assert calls.take() == {"PutItem": 2, "UpdateItem": 2, "BatchWriteItem": 1}
    assert audit_events(harness, job.job_id) == ["request", "start", "outcome"]
    assert len(harness.slack.messages(job=job.job_id)) == 1


def test_a_redelivered_read_only_job_reads_its_record_and_rewrites_its_audit_only(harness):
    worker, calls = counted_worker(harness)
    job = harness.job("/ops-ping")
    worker.handle_record(job.to_message(), 1)
    calls.take()

    worker.handle_record(job.to_message(), 2)  # SQS delivers it again (at least once)

    # Powertools' conditional put finds the COMPLETED record; the audit items are rewritten, not added.
    assert calls.take() == {"PutItem": 1, "BatchWriteItem": 1}
    assert audit_events(harness, job.job_id) == ["request", "start", "outcome"]
    assert len(harness.slack.messages(job=job.job_id)) == 1


def test_a_mutating_job_writes_its_request_and_start_in_one_call_before_the_restart(harness):
    worker, calls = counted_worker(harness)
    job = harness.job("/ops-restart payment")

    steps = harness.run(job, worker)

    counted = calls.take()
    assert steps == 2  # started, then followed to COMPLETED
    # Step 0: run (Put + Update), request + start (1 batch), lease (Put, kept: Update), the ECS intent (Put),
    # reply (Put + Update, its intent Put, its response_url send counted: Update), next step (Put + Update).
    # Step 1: run (Put + Update), lease (Put, released: Delete), reply (Put + Update, its intent Put, its send
    # counted: Update), outcome (1 batch). Before: 3 audit puts.
    # Besides: the target's lock and its environment's freeze read once (BatchGetItem) before the first step,
    # and the registry of jobs (/ops-jobs, /ops-cancel): running and waiting (Put, Put), running (Put), ended
    # (Update).
    assert counted == {"PutItem": 13, "UpdateItem": 9, "DeleteItem": 1, "BatchWriteItem": 2, "BatchGetItem": 1}
    assert audit_events(harness, job.job_id) == ["request", "start", "outcome"]


def test_the_worker_reuses_its_connections_to_dynamodb_and_slack(harness):
    worker, _ = counted_worker(harness)
    web = worker.ctx.slack
    assert isinstance(web, PooledWebClient)
    jobs = [harness.job("/ops-ping") for _ in range(5)]
    slack_port = urlsplit(harness.slack.url).port
    _CONNECTS.update({harness.moto.port: 0, slack_port: 0})
    try:
        for job in jobs:
            worker.handle_record(job.to_message(), 1)
        web.chat_postMessage(channel="C0OPS", text="and one Web API call on the same pool")
        moto_connects, slack_connects = _CONNECTS[harness.moto.port], _CONNECTS[slack_port]
    finally:
        _CONNECTS.clear()

    # 5 jobs x 5 DynamoDB calls over one connection; 5 response_url posts and a chat.postMessage over another.
    assert moto_connects == 1
    assert slack_connects == 1
    assert web.pool.requests == 6 and web.pool.connects == 1
    assert all(len(harness.slack.messages(job=job.job_id)) == 1 for job in jobs)
