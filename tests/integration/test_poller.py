"""The local SQS event source mapping against moto: deletes what succeeded, lets failures come back,
and lets SQS move a message to the DLQ after MAX_RECEIVE_COUNT receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.devstack.poller import SqsPoller
from shared.settings import MAX_RECEIVE_COUNT

pytestmark = pytest.mark.integration


@dataclass
class RecordingWorker:
    """A worker handler that records each event and fails the records whose body `fails` says so."""

    fails: Callable[[str], bool] = lambda body: False
    raises: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    got_one: threading.Event = field(default_factory=threading.Event)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.contexts.append(context)
        self.got_one.set()
        if self.raises:
            raise RuntimeError("worker crashed")
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if self.fails(r["body"])]
        }

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for e in self.events for r in e["Records"]]


def counts(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def poller_for(queues, moto_server, worker) -> SqsPoller:
    return SqsPoller(queues.queue_url, queues.queue_arn, endpoint_url=moto_server.endpoint_url, handler=worker)


def poll_until(poller: SqsPoller, done: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        poller.poll_once()


def test_successful_batch_is_deleted_and_the_event_has_lambdas_shape(sqs, queues, moto_server):
    worker = RecordingWorker()
    for body in ("one", "two", "three"):
        sqs.send_message(
            QueueUrl=queues.queue_url,
            MessageBody=body,
            MessageAttributes={"job_id": {"DataType": "String", "StringValue": f"job-{body}"}},
        )
    poller = poller_for(queues, moto_server, worker)

    poll_until(poller, lambda: len(worker.records) == 3)

    assert counts(sqs, queues.queue_url) == (0, 0)
    first = worker.records[0]
    assert first["eventSource"] == "aws:sqs" and first["eventSourceARN"] == queues.queue_arn
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert first["messageAttributes"]["job_id"]["stringValue"] == f"job-{first['body']}"
    assert sorted(r["body"] for r in worker.records) == ["one", "three", "two"]
    assert poller.stats.records == 3 and poller.stats.deleted == 3 and poller.stats.failures == 0
    assert worker.contexts[0].get_remaining_time_in_millis() > 0


def test_reported_failure_stays_and_comes_back_after_the_visibility_timeout(sqs, queues, moto_server):
    worker = RecordingWorker(fails=lambda body: body == "bad")
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="good")
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="bad")
    poller = poller_for(queues, moto_server, worker)

    poll_until(poller, lambda: len(worker.records) >= 2)
    after_first = counts(sqs, queues.queue_url)
    poll_until(poller, lambda: any(r["attributes"]["ApproximateReceiveCount"] == "2" for r in worker.records))

    assert after_first == (0, 1)  # "good" deleted, "bad" in flight
    again = [r for r in worker.records if r["attributes"]["ApproximateReceiveCount"] == "2"]
    assert [r["body"] for r in again] == ["bad"]
    assert poller.stats.failures >= 1


def test_a_raising_handler_fails_the_whole_batch(sqs, queues, moto_server):
    worker = RecordingWorker(raises=True)
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="a")
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="b")
    poller = poller_for(queues, moto_server, worker)

    poll_until(poller, lambda: len(worker.records) >= 2)

    assert counts(sqs, queues.queue_url) == (0, 2)
    assert poller.stats.errors >= 1 and poller.stats.deleted == 0


def test_an_unknown_item_identifier_fails_the_whole_batch(sqs, queues, moto_server):
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}

    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="a")
    poller = SqsPoller(queues.queue_url, queues.queue_arn, endpoint_url=moto_server.endpoint_url, handler=handler)

    poll_until(poller, lambda: poller.stats.records >= 1)

    assert counts(sqs, queues.queue_url) == (0, 1)


def test_a_message_that_always_fails_moves_to_the_dlq_after_max_receive_count(sqs, queues, moto_server):
    worker = RecordingWorker(fails=lambda body: True)
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="poison")
    poller = poller_for(queues, moto_server, worker)

    poll_until(poller, lambda: counts(sqs, queues.dlq_url)[0] == 1, timeout=20)

    assert [r["attributes"]["ApproximateReceiveCount"] for r in worker.records] == [
        str(n) for n in range(1, MAX_RECEIVE_COUNT + 1)
    ]
    assert counts(sqs, queues.queue_url) == (0, 0)
    [dead] = sqs.receive_message(QueueUrl=queues.dlq_url)["Messages"]
    assert dead["Body"] == "poison"


def test_background_thread_delivers_and_stops(sqs, queues, moto_server):
    worker = RecordingWorker()
    poller = poller_for(queues, moto_server, worker).start()
    try:
        sqs.send_message(QueueUrl=queues.queue_url, MessageBody="hello")
        assert worker.got_one.wait(10)
    finally:
        poller.stop(timeout=5)

    assert [r["body"] for r in worker.records] == ["hello"]
    assert poller.stats.batches == 1
