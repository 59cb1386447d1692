"""Alarms in their channel: one message per alarm, posted once and updated in place on each state change.

Exactly once at Slack: an intent (the alarm's marker and channel, no ts yet) is written before
chat.postMessage and the ts saved after; a redelivery that finds an intent without a ts first looks for
the marker (the message's first block id) in the channel's recent messages (conversations.history) and
only posts when it is not there. A flapping alarm stays one message: each change is a chat.update, at
most one per `min_interval_s` per alarm, and (`ChannelPacer`) at most one message a second per channel from a
sandbox (Slack: ~1 message/s per channel; chat.update is Tier 3; a 429 beyond that is retried after its
Retry-After by the client's RateLimitErrorRetryHandler). An
alarm the inventory does not name is dropped, never silently: an error log line naming it and the routed
ones, and an `AlarmsDropped` metric; a change older than the one shown is skipped.
State lives in the leases table under `alarm#<name>` (target names cannot contain `#`), conditional writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from aws_lambda_powertools.metrics import Metrics, MetricUnit

from shared import messages
from shared.alarms import AlarmStateChange, is_alarm_body, parse_alarm
from shared.errors import AlarmFormatError
from shared.inventory import Inventory
from shared.observability import ALARMS_DROPPED, publish

logger = logging.getLogger(__name__)

KEY_PREFIX = "alarm#"
#: How far back a redelivery looks for its own message (conversations.history, newest first).
HISTORY_LIMIT = 100
Outcome = Literal["dropped", "posted", "updated", "stale"]


@dataclass(frozen=True)
class AlarmRecord:
    """Where an alarm's message is and what it shows."""

    channel: str
    marker: str
    ts: str | None = None
    state: str = ""
    changed_at: datetime | None = None
    #: When the current (or last) ALARM began: an OK message says how long it lasted.
    alarm_since: datetime | None = None
    changes: int = 0
    #: When Slack was last sent this alarm's message (epoch seconds).
    sent_at: float = 0.0


class AlarmStore(Protocol):
    def get(self, name: str) -> AlarmRecord | None: ...

    def intend(self, name: str, record: AlarmRecord) -> bool:
        """Write the intent to post (no ts) unless a record is there; whether this call wrote it."""
        ...

    def save(self, name: str, record: AlarmRecord) -> None: ...


class DynamoAlarmStore:
    """`AlarmStore` on the leases table (partition key `target`), conditional on the item's absence for an intent."""

    def __init__(self, table: str, *, client: Any) -> None:
        self._table = table
        self._client = client

    def get(self, name: str) -> AlarmRecord | None:
        item = self._client.get_item(TableName=self._table, Key=_key(name), ConsistentRead=True).get("Item")
        if not item:
            return None

        def text(field: str) -> str | None:
            value = item.get(field)
            return str(value["S"]) if value and "S" in value else None

        def moment(field: str) -> datetime | None:
            value = text(field)
            return datetime.fromisoformat(value) if value else None

        return AlarmRecord(
            channel=text("channel") or "",
            marker=text("marker") or "",
            ts=text("ts"),
            state=text("state") or "",
            changed_at=moment("changed_at"),
            alarm_since=moment("alarm_since"),
            changes=int(item.get("changes", {}).get("N", "0")),
            sent_at=float(item.get("sent_at", {}).get("N", "0")),
        )

    def intend(self, name: str, record: AlarmRecord) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(name, record),
                ConditionExpression="attribute_not_exists(target)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def save(self, name: str, record: AlarmRecord) -> None:
        self._client.put_item(TableName=self._table, Item=_item(name, record))


def _key(name: str) -> dict[str, Any]:
    return {"target": {"S": f"{KEY_PREFIX}{name}"}}


def _item(name: str, record: AlarmRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(name),
        "channel": {"S": record.channel},
        "marker": {"S": record.marker},
        "state": {"S": record.state},
        "changes": {"N": str(record.changes)},
        "sent_at": {"N": repr(record.sent_at)},
    }
    for attribute, value in (("ts", record.ts), ("changed_at", record.changed_at), ("alarm_since", record.alarm_since)):
        if value is not None:
            item[attribute] = {"S": value if isinstance(value, str) else value.isoformat()}
    return item


def marker_for(name: str) -> str:
    """The first block id of an alarm's message: how the worker finds it again (Slack's block_id: 255 chars)."""
    return "opsbot_alarm_" + hashlib.sha256(name.encode()).hexdigest()[:32]


@dataclass
class ChannelPacer:
    """At most one message per `interval_s` in each channel from this sandbox: several alarms of one
    channel flapping together are spaced out, not sent in a burst Slack would answer with 429s."""

    interval_s: float = 1.0
    _last: dict[str, float] = field(default_factory=dict)

    def wait(self, channel: str, now: Callable[[], float], sleep: Callable[[float], None]) -> None:
        """Sleep until this channel may be sent the next message, then count it as sent."""
        last = self._last.get(channel)
        if last is not None:
            wait = last + self.interval_s - now()
            if wait > 0:
                sleep(min(wait, self.interval_s))
        self._last[channel] = now()


def post_alarm(
    alarm: AlarmStateChange,
    *,
    inventory: Inventory,
    slack: Any,
    store: AlarmStore,
    min_interval_s: float = 1.0,
    pacer: ChannelPacer | None = None,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Show the alarm's new state in its channel: post its message once, then update it in place."""
    found = inventory.alarm(alarm.name)
    if found is None:
        known = ", ".join(sorted(inventory.alarms)[:20]) or "none"
        logger.error(
            "alarm %r (%s) is not in the inventory's [alarms], so no channel shows it: dropped; add it (or a "
            "prefix of it) to [alarms] to route it (routed: %s)",
            alarm.name[:255],
            alarm.state,
            known,
        )
        return "dropped"
    key, route = found
    record = store.get(alarm.name)
    if record is None:
        record = AlarmRecord(channel=route.channel, marker=marker_for(alarm.name))
        if not store.intend(alarm.name, record):
            record = store.get(alarm.name) or record
    if record.changed_at is not None and alarm.changed_at < record.changed_at:
        logger.info("alarm %r: a change older than the one shown, skipped", alarm.name[:255])
        return "stale"
    since = alarm.changed_at if alarm.state == "ALARM" and record.state != "ALARM" else record.alarm_since
    shown = replace(record, state=alarm.state, changed_at=alarm.changed_at, alarm_since=since)
    shown = replace(shown, changes=record.changes + (alarm.changed_at != record.changed_at))
    message = messages.alarm_posted(
        alarm,
        key=key,
        target=route.target,
        runbook=route.runbook,
        marker=record.marker,
        alarm_since=since,
        changes=shown.changes,
    )
    ts = record.ts or _find(slack, record.channel, record.marker)
    if pacer is not None:
        pacer.wait(record.channel, now, sleep)
    if ts is None:
        response = slack.chat_postMessage(channel=record.channel, text=message.text, blocks=message.blocks)
        outcome: Outcome = "posted"
    else:
        wait = record.sent_at + min_interval_s - now()
        if wait > 0:
            sleep(min(wait, min_interval_s))
        response = slack.chat_update(channel=record.channel, ts=ts, text=message.text, blocks=message.blocks)
        outcome = "updated"
    store.save(alarm.name, replace(shown, ts=str(response["ts"]), sent_at=now()))
    logger.info("alarm %r is %s: message %s", alarm.name[:255], alarm.state, outcome)
    return outcome


def _find(slack: Any, channel: str, marker: str) -> str | None:
    """The ts of the channel's recent message whose first block is `marker` (a post whose ts was not saved)."""
    history = slack.conversations_history(channel=channel, limit=HISTORY_LIMIT)
    for message in history.get("messages") or []:
        blocks = message.get("blocks") or []
        if blocks and isinstance(blocks[0], dict) and blocks[0].get("block_id") == marker:
            return str(message["ts"])
    return None


@dataclass
class AlarmFeed:
    """The queue's alarm notifications (SNS -> SQS, EventBridge -> SQS) beside its jobs: `handle(body)` takes
    an alarm's body and shows it in its channel; anything else is left to the job executor."""

    inventory: Inventory
    slack: Any
    store: AlarmStore
    pacer: ChannelPacer = field(default_factory=ChannelPacer)
    #: `AlarmsDropped` counts each notification no channel shows (by reason), beside its error log line.
    metrics: Metrics | None = None

    def handle(self, body: str) -> bool:
        """True when `body` was an alarm notification (shown, or logged and dropped if it is malformed: a
        retry cannot mend it); False when it is not one. A transient failure (Slack, DynamoDB) raises, so
        SQS delivers it again."""
        try:
            data = json.loads(body)
        except ValueError:
            return False
        if not is_alarm_body(data):
            return False
        try:
            alarm = parse_alarm(data)
        except AlarmFormatError as exc:
            logger.error("an alarm notification that cannot be read, dropped: %s", exc)
            self._count_dropped("unreadable")
            return True
        outcome = post_alarm(alarm, inventory=self.inventory, slack=self.slack, store=self.store, pacer=self.pacer)
        if outcome == "dropped":
            self._count_dropped("not in the inventory")
        return True

    def _count_dropped(self, reason: str) -> None:
        if self.metrics is None:
            return
        self.metrics.add_dimension(name="reason", value=reason)
        self.metrics.add_metric(name=ALARMS_DROPPED, unit=MetricUnit.Count, value=1)
        publish(self.metrics)
