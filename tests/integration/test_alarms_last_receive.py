"""An alarm's last receive, against moto server (DynamoDB, SQS) and the local Slack API: a Lambda that dies on it, or
a store that fails through it, does not leave the alarm in the dead-letter queue unshown (seed 221 of the chaos
campaign): a successor queued first shows it, once; a successor whose own last receive fails puts itself back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError
from slack_sdk import WebClient

from infra.devstack.aws import aws_client
from opsbot_testkit.faults import WorkerKilled
from shared.inventory import Inventory
from shared.settings import MAX_RECEIVE_COUNT
from tests.events import alarm_body
from worker_function.alarms import IN_FLIGHT_S, REQUEUED_ATTR, SUCCESSOR_ATTR, AlarmFeed, AlarmRecord, DynamoAlarmStore
from worker_function.clients import slack_retry_handlers
from worker_function.pacing import Deferrals, handle_message
from worker_function.requeues import Requeues
from worker_function.store.dead_letters import DeadLetters

pytestmark = pytest.mark.integration

INVENTORY = Inventory.from_toml(
    """
[targets.payment]
ecs = { cluster = "c", service = "payment" }

[alarms."payment-"]
prefix = true
target = "payment"
channel = "C0ALERTS"
"""
)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


class KilledAfterTheIntent(DynamoAlarmStore):
    """The Lambda dies right after the intent to post is written (a timeout, a crash): nothing posted."""

    def intend(self, name: str, record: AlarmRecord) -> bool:
        super().intend(name, record)
        raise WorkerKilled("the Lambda timed out")


class Unreachable(DynamoAlarmStore):
    """DynamoDB's connection closes before it answers, on every call."""

    def get(self, name: str) -> AlarmRecord | None:
        raise ConnectionClosedError(endpoint_url="http://dynamodb")


class NoJobs:
    def handle_record(self, body: str, receive_count: int) -> None:
        raise AssertionError(f"an alarm was taken for a job: {body[:80]}")


def alarm() -> str:
    return json.dumps(
        json.loads(
            alarm_body(
                "sns",
                AlarmName="payment-5xx",
                NewStateValue="ALARM",
                OldStateValue="OK",
                StateChangeTime="2026-12-01T10:00:00.000+0000",
            )
        )
    )


@pytest.fixture
def make_feed(slack, moto_server, tables, queues, sqs):
    slack.add_channel("C0ALERTS", "alerts")
    web = WebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=slack_retry_handlers(2))
    clock = Clock()
    deferrals = Deferrals(queues.queue_url, client=sqs, max_delay_s=0)

    def make(store_type: type[DynamoAlarmStore] = DynamoAlarmStore) -> AlarmFeed:
        return AlarmFeed(
            INVENTORY,
            web,
            store_type(tables.leases, client=aws_client("dynamodb", moto_server.endpoint_url)),
            dead_letters=DeadLetters(queues.dlq_url, client=sqs),
            now=clock.now,
            requeues=Requeues(MAX_RECEIVE_COUNT, max_delay_s=0),
            again=deferrals,
        )

    make.clock = clock  # type: ignore[attr-defined]
    make.deferrals = deferrals  # type: ignore[attr-defined]
    return make


def queued(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def deliver(make_feed: Any, message: dict[str, Any], receive_count: int, store: type[DynamoAlarmStore]) -> None:
    handle_message(
        message["Body"],
        receive_count,
        message.get("MessageAttributes"),
        alarms=make_feed(store),
        jobs=NoJobs(),
        deferrals=make_feed.deferrals,
    )


def posts(slack: Any) -> list[Any]:
    return [m for m in slack.messages(channel="C0ALERTS") if m.kind == "chat.postMessage"]


def test_an_alarm_whose_lambda_dies_on_its_last_receive_is_shown_by_its_successor(slack, make_feed, sqs, queues):
    with pytest.raises(WorkerKilled):
        make_feed(KilledAfterTheIntent).handle(alarm(), MAX_RECEIVE_COUNT, {})
    assert posts(slack) == []

    [successor] = queued(sqs, queues.queue_url)  # before: none, SQS dead-lettered the alarm unshown
    assert successor["MessageAttributes"][SUCCESSOR_ATTR]["StringValue"] == "1"
    make_feed.clock.t += IN_FLIGHT_S + 1  # the dead attempt's intent is no longer in flight
    deliver(make_feed, successor, 1, DynamoAlarmStore)

    assert len(posts(slack)) == 1
    assert queued(sqs, queues.queue_url) == []


def test_an_alarm_whose_store_fails_through_its_last_receive_is_left_to_its_successor_then_put_back(
    slack, make_feed, sqs, queues, moto_server
):
    body = alarm()
    assert make_feed(Unreachable).handle(body, MAX_RECEIVE_COUNT, {})  # handled: not dead-lettered by SQS
    [successor] = queued(sqs, queues.queue_url)

    deliver(make_feed, successor, MAX_RECEIVE_COUNT, Unreachable)  # the successor's own last receive fails too
    [again] = queued(sqs, queues.queue_url)  # put back, still a successor: it queues none of its own
    assert again["MessageAttributes"][REQUEUED_ATTR]["StringValue"] == "2"
    assert again["MessageAttributes"][SUCCESSOR_ATTR]["StringValue"] == "1"

    deliver(make_feed, again, 1, DynamoAlarmStore)  # DynamoDB is back
    assert len(posts(slack)) == 1
    assert queued(sqs, queues.queue_url) == []
    dlq = sqs.receive_message(QueueUrl=queues.dlq_url, WaitTimeSeconds=0).get("Messages", [])
    assert dlq == []


def test_the_successor_of_an_alarm_shown_on_its_last_receive_calls_slack_not_at_all(slack, make_feed, sqs, queues):
    assert make_feed().handle(alarm(), MAX_RECEIVE_COUNT, {})
    assert len(posts(slack)) == 1
    calls = len(slack.calls)

    [successor] = queued(sqs, queues.queue_url)
    deliver(make_feed, successor, 1, DynamoAlarmStore)

    assert len(slack.calls) == calls
    assert queued(sqs, queues.queue_url) == []
