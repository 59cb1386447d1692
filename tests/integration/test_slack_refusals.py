"""The worker against the strict local Slack: alarms in private channels, channels it cannot post in, rate limits.

A refusal no retry can change is reported once, naming Slack's error; a rate limit is paced (a short Retry-After
waited, a long one deferred on the queue without spending a receive); an alarm's first post reads no history.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk import WebClient

from infra.cli.dlq import list_dead_jobs
from infra.devstack.aws import aws_client
from shared.alarms import parse_alarm
from shared.inventory import Inventory
from shared.queue import DLQ_REASON_ATTR
from tests.events import alarm_body
from tests.integration.test_approval import Flow
from worker_function.alarms import (
    AlarmFeed,
    AlarmInFlightError,
    AlarmRecord,
    DynamoAlarmStore,
    marker_for,
    post_alarm,
)
from worker_function.app import build_deferrals
from worker_function.clients import slack_retry_handlers
from worker_function.pacing import SPENT_RECEIVES_ATTR, Deferrals, handle_message
from worker_function.store.dead_letters import DeadLetters

pytestmark = pytest.mark.integration

INVENTORY = Inventory.from_toml(
    """
[targets.payment]
ecs = { cluster = "c", service = "payment" }

[alarms."payment-"]
prefix = true
target = "payment"
channel = "C0PRIVATE"
"""
)


def history_calls(slack: Any) -> int:
    return sum(1 for c in slack.calls if c.path == "/api/conversations.history")


def alarm(state: str = "ALARM", at: str = "2026-12-01T10:00:00.000+0000", name: str = "payment-5xx") -> str:
    return json.dumps(
        json.loads(alarm_body("sns", AlarmName=name, NewStateValue=state, OldStateValue="OK", StateChangeTime=at))
    )


@pytest.fixture
def web(slack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=slack_retry_handlers(2))


@pytest.fixture
def store(moto_server, tables) -> DynamoAlarmStore:
    return DynamoAlarmStore(tables.leases, client=aws_client("dynamodb", moto_server.endpoint_url))


@pytest.fixture
def feed(web, store, moto_server, queues) -> AlarmFeed:
    dead = DeadLetters(queues.dlq_url, client=aws_client("sqs", moto_server.endpoint_url))
    return AlarmFeed(INVENTORY, web, store, dead_letters=dead)


def dead_letters(moto_server: Any, queues: Any) -> list[dict[str, Any]]:
    sqs = aws_client("sqs", moto_server.endpoint_url)
    return sqs.receive_message(
        QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])


def test_an_alarm_in_a_private_channel_the_bot_was_invited_to_is_posted_without_reading_history(slack, feed):
    slack.add_channel("C0PRIVATE", "sre-private", private=True, members={"U0DANA"})

    assert feed.handle(alarm()) is True
    assert feed.handle(alarm("OK", "2026-12-01T10:05:00.000+0000")) is True

    kinds = [m.kind for m in slack.messages(channel="C0PRIVATE")]
    assert kinds == ["chat.postMessage", "chat.update"]
    assert history_calls(slack) == 0  # the first post looks nothing up


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ({"private": True, "bot_member": False}, "channel_not_found"),
        ({"archived": True}, "is_archived"),
    ],
    ids=["private-not-invited", "archived"],
)
def test_an_alarm_in_a_channel_the_bot_cannot_post_in_is_dead_lettered_once_naming_the_error(
    slack, feed, moto_server, queues, channel, error, caplog
):
    slack.add_channel("C0PRIVATE", "sre-private", **channel)

    assert feed.handle(alarm(), 1) is True  # handled: not left on the queue for 3 receives

    [listed] = list_dead_jobs(aws_client("sqs", moto_server.endpoint_url), queues.dlq_url)  # `opsbot dlq list`
    assert listed.command == "alarm payment-5xx (ALARM)"
    assert "alarm payment-5xx (ALARM)" in listed.reason and error in listed.reason and "C0PRIVATE" in listed.reason
    assert slack.messages(channel="C0PRIVATE") == []
    assert any(r.levelname == "ERROR" and error in r.getMessage() for r in caplog.records)


def test_without_chat_write_public_a_public_channel_not_joined_is_not_in_channel(slack, feed, moto_server, queues):
    slack.add_channel("C0PRIVATE", "alerts", bot_member=False)
    slack.workspace.scopes = slack.workspace.scopes - {"chat:write.public"}

    feed.handle(alarm(), 1)

    [dead] = dead_letters(moto_server, queues)
    assert "not_in_channel" in dead["MessageAttributes"][DLQ_REASON_ATTR]["StringValue"]
    assert "/invite @opsbot" in dead["MessageAttributes"][DLQ_REASON_ATTR]["StringValue"]


class Unreadable(DynamoAlarmStore):
    """The real store whose first save after posting fails: the redelivery must look for the message."""

    failed = False

    def save(self, name: str, record: Any) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("lost the ts")
        super().save(name, record)


def test_a_redelivery_that_cannot_read_the_channel_posts_again_instead_of_failing(slack, web, moto_server, tables):
    slack.add_channel("C0PRIVATE", "sre-private", private=True)
    slack.workspace.scopes = slack.workspace.scopes - {"groups:history"}
    store = Unreadable(tables.leases, client=aws_client("dynamodb", moto_server.endpoint_url))
    change = parse_alarm(json.loads(alarm()))
    now = [1_000_000.0]

    with pytest.raises(ConnectionError):
        post_alarm(change, inventory=INVENTORY, slack=web, store=store, now=lambda: now[0])
    now[0] += 720  # SQS delivers it again after the visibility timeout
    assert post_alarm(change, inventory=INVENTORY, slack=web, store=store, now=lambda: now[0]) == "posted"

    assert [c.error for c in slack.calls if c.path == "/api/conversations.history"] == ["missing_scope"]
    assert len(slack.messages(channel="C0PRIVATE")) == 2  # the one possible repeat, logged


def test_a_repeated_notification_of_the_change_shown_calls_slack_not_at_all(slack, feed):
    slack.add_channel("C0PRIVATE", "sre-private")
    feed.handle(alarm())
    calls = len(slack.calls)

    feed.handle(alarm())

    assert len(slack.calls) == calls


def test_a_copy_arriving_while_another_posts_waits_on_the_queue_instead_of_posting_twice(slack, web, store):
    slack.add_channel("C0PRIVATE", "sre-private")
    change = parse_alarm(json.loads(alarm()))
    store.intend("payment-5xx", AlarmRecord(channel="C0PRIVATE", marker=marker_for("payment-5xx"), intended_at=1000.0))

    with pytest.raises(AlarmInFlightError) as waiting:
        post_alarm(change, inventory=INVENTORY, slack=web, store=store, now=lambda: 1010.0)
    with pytest.raises(AlarmInFlightError) as late:
        post_alarm(change, inventory=INVENTORY, slack=web, store=store, now=lambda: 1115.0)
    assert late.value.delay_s == 5  # at most until the other delivery's invocation must have ended

    assert waiting.value.delay_s == 10  # it looks again soon (the other delivery has saved the ts by then)
    assert slack.calls == []  # neither looked nor posted


class Jobs:
    def __init__(self) -> None:
        self.handled: list[tuple[str, int]] = []

    def handle_record(self, body: str, receive_count: int) -> None:
        self.handled.append((body, receive_count))


def test_a_long_rate_limit_defers_the_alarm_without_spending_a_receive(slack, feed, moto_server, queues):
    slack.add_channel("C0PRIVATE", "sre-private")
    slack.inject_fault("chat.postMessage", 429, retry_after=30)  # longer than is worth waiting in the Lambda
    sqs = aws_client("sqs", moto_server.endpoint_url)
    deferrals = Deferrals(queues.queue_url, client=sqs)
    body = alarm()

    handle_message(body, 2, {}, alarms=feed, jobs=Jobs(), deferrals=deferrals)

    assert slack.messages(channel="C0PRIVATE") == []
    assert dead_letters(moto_server, queues) == []
    [again] = sqs.receive_message(
        QueueUrl=queues.queue_url, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []) or [None]
    assert again is None  # delayed by Retry-After: not visible yet
    attributes = sqs.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"

    # its next receive is its 1st, plus the 1 it had spent: still its 2nd attempt
    feed_calls = []

    class Recording(AlarmFeed):
        def handle(self, body: str, receive_count: int = 1, attributes: Any = None) -> bool:
            feed_calls.append(receive_count)
            return True

    recording = Recording(INVENTORY, None, None)  # type: ignore[arg-type]
    handle_message(
        body,
        1,
        {SPENT_RECEIVES_ATTR: {"stringValue": "1", "dataType": "Number"}},
        alarms=recording,
        jobs=Jobs(),
        deferrals=deferrals,
    )
    assert feed_calls == [2]


def test_a_deferral_keeps_to_the_deployments_delay_cap_as_a_requeued_step_does(harness, moto_server, queues):
    """`OPSBOT_MAX_DELAY` caps every DelaySeconds the worker sets, a deferral's too (seeds 101, 109 and 1106 of the
    chaos campaign: an alarm's copy waiting for another delivery in flight came back 10 s later on the wall clock
    while the run's clock was simulated, and was never shown)."""
    sqs = aws_client("sqs", moto_server.endpoint_url)
    settings = harness.settings(max_delay_s=0)
    deferrals = build_deferrals(settings, harness.dispatcher())

    deferrals.defer(alarm(), 10, spent=1)

    attributes = sqs.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "0"
    [again] = sqs.receive_message(
        QueueUrl=queues.queue_url, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=0
    )["Messages"]
    assert again["MessageAttributes"][SPENT_RECEIVES_ATTR]["StringValue"] == "1"
    capped = Deferrals(queues.queue_url, client=sqs, max_delay_s=3)
    capped.defer(alarm(), 60, spent=0)
    attributes = sqs.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_a_short_rate_limit_is_waited_for_within_the_invocation(slack, feed):
    slack.add_channel("C0PRIVATE", "sre-private")
    slack.inject_fault("chat.postMessage", 429, retry_after=1, times=1)

    feed.handle(alarm())

    assert [m.kind for m in slack.messages(channel="C0PRIVATE")] == ["chat.postMessage"]
    assert [c.status for c in slack.calls if c.path == "/api/chat.postMessage"] == [429, 200]


def test_an_approval_request_to_a_channel_the_bot_cannot_post_in_tells_the_requester_at_once(harness):
    harness.slack.add_channel("C0APPROVALS", "approvals", private=True, bot_member=False)
    flow = Flow(harness)

    flow.command_text("/ops-migrate payment")
    flow.deliver()  # one receive

    told = flow.texts("requester")
    assert any("channel_not_found" in t and "C0APPROVALS" in t and "/invite @opsbot" in t for t in told), told
    [dead] = harness.dead_letters()
    reason = dead["MessageAttributes"][DLQ_REASON_ATTR]["StringValue"]
    assert "Slack refused chat.postMessage in C0APPROVALS: channel_not_found" in reason
