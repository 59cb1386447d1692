"""Alarms in their channel: one message per alarm, posted once and updated in place on each state change.

Exactly once at Slack: an intent (the alarm's marker and channel, no ts yet) is written before
chat.postMessage and the ts saved after. The first post of an alarm looks nothing up: the intent it wrote
says no earlier attempt posted. Only a redelivery that finds an earlier intent without a ts looks for the
marker (the message's first block id) in the channel's recent messages (conversations.history, which Slack
limits to about one call a minute for apps not on the Marketplace) and posts when it is not there, or when
the channel cannot be read (logged: a crash between the post and the save may then show the alarm twice).
A flapping alarm stays one message: each change is a chat.update, at most one per `min_interval_s` per alarm,
and (`ChannelPacer`) at most one new message a second per channel from a sandbox (Slack: chat.postMessage ~1
message/s per channel; chat.update is Tier 3, per method). While another delivery of the same alarm posts it
(an intent younger than an invocation's longest run), a copy waits on the queue instead of looking; a repeat
of the change shown (SNS delivers at least once) calls Slack not at all. A 429 is waited for when short,
else the notification goes back on the queue (`slack_errors`). A refusal no retry can change
(`not_in_channel`, `channel_not_found`, `is_archived`, `missing_scope`, `invalid_auth`) is dead-lettered at
once, naming the alarm and the Slack error, with an error line and an `AlarmsDropped` metric. An alarm the
inventory does not name is dropped, never silently: an error log line naming it and the routed ones, and an
`AlarmsDropped` metric; a change older than the one shown is skipped.
State lives in the leases table under `alarm#<name>` (target names cannot contain `#`), conditional writes.
A notification's last receive follows the jobs' rule (`requeues`): a successor queued first, so that a Lambda that
dies on it does not leave the alarm dead-lettered unshown.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from aws_lambda_powertools.metrics import Metrics, MetricUnit

from shared import blockkit
from shared.alarm_events import ignored_event, is_alarm_body
from shared.alarms import AlarmStateChange, parse_alarm
from shared.errors import AlarmFormatError
from shared.inventory import Inventory
from shared.observability import ALARMS_DROPPED, publish
from shared.settings import WORKER_TIMEOUT_SECONDS
from worker_function import alarm_message
from worker_function.errors import transient
from worker_function.pacing import DeferError, Deferrals, count_attribute
from worker_function.requeues import Requeues
from worker_function.slack_errors import SlackRateLimitedError, SlackRefusal, refusal_of
from worker_function.slack_history import find_own, first_block_is
from worker_function.store import DeadLetterQueue

logger = logging.getLogger(__name__)

KEY_PREFIX = "alarm#"
Outcome = Literal["dropped", "posted", "updated", "stale", "duplicate"]
#: How long an intent without a ts may be another delivery posting right now: an invocation's longest run.
IN_FLIGHT_S = float(WORKER_TIMEOUT_SECONDS)
#: How soon such a copy looks again (by then the other delivery has usually saved the message's ts).
IN_FLIGHT_RECHECK_S = 10.0
#: An alarm's copy the worker put back on the queue itself (`requeues`) says how often (its body is AWS's: the count
#: rides in a message attribute, as a job's rides in its envelope), and whether it is a successor.
REQUEUED_ATTR = "opsbot_requeued"
SUCCESSOR_ATTR = "opsbot_successor"


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
    #: When the intent to post it was written (epoch seconds; 0: before this was kept).
    intended_at: float = 0.0


class AlarmStore(Protocol):
    def get(self, name: str) -> AlarmRecord | None: ...

    def intend(self, name: str, record: AlarmRecord) -> bool:
        """Write the intent to post (no ts) unless a record is there; whether this call wrote it."""
        ...

    def save(self, name: str, record: AlarmRecord) -> None: ...

    def withdraw(self, name: str) -> None:
        """Forget an intent that was never posted (Slack refused the post): the next delivery is a first post."""
        ...


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
            intended_at=float(item.get("intended_at", {}).get("N", "0")),
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

    def withdraw(self, name: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.delete_item(
                TableName=self._table, Key=_key(name), ConditionExpression="attribute_not_exists(ts)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


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
        "intended_at": {"N": repr(record.intended_at)},
    }
    for attribute, value in (("ts", record.ts), ("changed_at", record.changed_at), ("alarm_since", record.alarm_since)):
        if value is not None:
            item[attribute] = {"S": value if isinstance(value, str) else value.isoformat()}
    return item


def _copy_of(attributes: Mapping[str, Any] | None) -> tuple[int, bool]:
    """How often the worker put this notification back on the queue, and whether this copy is a successor."""
    return count_attribute(attributes, REQUEUED_ATTR), count_attribute(attributes, SUCCESSOR_ATTR) > 0


def marker_for(name: str) -> str:
    """The first block id of an alarm's message: how the worker finds it again (Slack's block_id: 255 chars)."""
    return "opsbot_alarm_" + hashlib.sha256(name.encode()).hexdigest()[:32]


class AlarmInFlightError(DeferError):
    """Another delivery of the alarm is posting its message now: this one waits for it, on the queue."""


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
    first_post = False
    if record is None:
        record = AlarmRecord(channel=route.channel, marker=marker_for(alarm.name), intended_at=now())
        first_post = store.intend(alarm.name, record)
        if not first_post:
            record = store.get(alarm.name) or record
    in_flight = record.intended_at + IN_FLIGHT_S - now()
    if not first_post and record.ts is None and in_flight > 0:
        # Another copy (SNS delivers at least once) posts it now: looking for its message could miss it
        # and post a second one. A crashed attempt comes back after the visibility timeout, past this.
        wait = min(in_flight, IN_FLIGHT_RECHECK_S)
        raise AlarmInFlightError(f"alarm {alarm.name[:200]!r} is being posted by another delivery", wait)
    if record.changed_at is not None and alarm.changed_at < record.changed_at:
        logger.info("alarm %r: a change older than the one shown, skipped", alarm.name[:255])
        return "stale"
    if record.ts is not None and (record.changed_at, record.state) == (alarm.changed_at, alarm.state):
        # The change already shown: a redelivery, or the same change by a second route (the alarm feed topic
        # and the EventBridge rule both carry an alarm that has the topic as its action).
        logger.info("alarm %r: this change is already shown, skipped", alarm.name[:255])
        return "duplicate"
    since = alarm.changed_at if alarm.state == "ALARM" and record.state != "ALARM" else record.alarm_since
    shown = replace(record, state=alarm.state, changed_at=alarm.changed_at, alarm_since=since)
    shown = replace(shown, changes=record.changes + (alarm.changed_at != record.changed_at))
    message = alarm_message.alarm_posted(
        alarm,
        key=key,
        target=route.target,
        runbook=route.runbook,
        marker=record.marker,
        alarm_since=since,
        changes=shown.changes,
    )
    ts = record.ts if first_post or record.ts else _find(slack, record)
    if ts is None:
        if pacer is not None:  # Slack's per-channel limit is on posting; chat.update is Tier 3 (per method)
            pacer.wait(record.channel, now, sleep)
        response = _first_post(slack, store, alarm.name, record.channel, message)
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


def _first_post(slack: Any, store: AlarmStore, name: str, channel: str, message: blockkit.SlackMessage) -> Any:
    """chat.postMessage; when Slack answers with a refusal (a 429, not_in_channel) nothing was posted, so the
    intent is withdrawn: the retry is a first post again and needs no history look-up."""
    from slack_sdk.errors import SlackApiError

    try:
        return slack.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        if exc.response.status_code < 500:  # an answer saying no; a 5xx may have posted it
            store.withdraw(name)
        raise


def _find(slack: Any, record: AlarmRecord) -> str | None:
    """The ts of the channel's recent message whose first block is the alarm's marker (a post whose ts was not
    saved); None when it is not there or the channel cannot be read (logged: posting
    anew may then repeat it). A rate limit raises: the redelivery waits."""
    found = find_own(slack, record.channel, first_block_is(record.marker))
    if found.unreadable:
        logger.warning("alarm message in %s: posting anew, which may repeat it", record.channel)
    return found.ts


@dataclass
class AlarmFeed:
    """The queue's alarm notifications (SNS -> SQS with or without raw delivery, EventBridge -> SQS) beside its
    jobs: `handle(body)` takes an alarm's body and shows it in its channel (CloudWatch's contributor and
    configuration events are logged and dropped); anything else is left to the job executor."""

    inventory: Inventory
    slack: Any
    store: AlarmStore
    pacer: ChannelPacer = field(default_factory=ChannelPacer)
    #: Where an alarm Slack refuses for good goes at once (None: the queue's redrive policy, after its receives).
    dead_letters: DeadLetterQueue | None = None
    #: `AlarmsDropped` counts each notification no channel shows, beside its error log line.
    metrics: Metrics | None = None
    #: Epoch seconds (tests pass their clock: an attempt in flight is judged by it).
    now: Callable[[], float] = time.time
    #: The last receive's rule, shared with the jobs (`Dispatcher.requeues`), and where a copy goes back on the queue
    #: (None: no successor, no re-queue; SQS's redrive after the last receive).
    requeues: Requeues | None = None
    again: Deferrals | None = None

    def handle(self, body: str, receive_count: int = 1, attributes: Mapping[str, Any] | None = None) -> bool:
        """True when `body` was an alarm notification (shown, or logged and dropped if it is malformed: a
        retry cannot mend it); False when it is not one. A transient failure (Slack, DynamoDB) raises, so
        SQS delivers it again; a rate limit raises `SlackRateLimitedError` (the message is deferred); a
        refusal no retry can change is dead-lettered now, naming the alarm and Slack's error. The last receive
        first queues a successor (`requeues`: if this invocation dies, it shows the alarm; if not, it finds the
        change shown and calls Slack not at all) and leaves a transient failure to it; a successor's own last
        receive puts itself back instead, a bounded number of times."""
        try:
            data = json.loads(body)
        except ValueError:
            return False
        if not is_alarm_body(data):
            return False
        ignored = ignored_event(data)
        if ignored is not None:
            # A rule matching every CloudWatch alarm event sends these too: not a state change of an alarm.
            logger.info("a CloudWatch %r event, not an alarm's state change: dropped", ignored)
            return True
        try:
            alarm = parse_alarm(data)
        except AlarmFormatError as exc:
            logger.error("an alarm notification that cannot be read, dropped: %s", exc)
            self._count_dropped("unreadable")
            return True
        requeued, successor = _copy_of(attributes)
        last = self.requeues is not None and self.requeues.last(receive_count)
        followed = last and not successor and self._again(body, attributes, requeued, successor=True)
        try:
            outcome = post_alarm(
                alarm, inventory=self.inventory, slack=self.slack, store=self.store, pacer=self.pacer, now=self.now
            )
        except DeferError:
            raise
        except Exception as exc:
            self._failed(alarm, body, exc, receive_count, attributes, last=last, followed=followed)
            return True
        if outcome == "dropped":
            self._count_dropped("not in the inventory")
        return True

    def _failed(
        self,
        alarm: AlarmStateChange,
        body: str,
        exc: Exception,
        receive_count: int,
        attributes: Mapping[str, Any] | None,
        *,
        last: bool,
        followed: bool,
    ) -> None:
        """Raises for SQS to deliver it again (a rate limit: deferred); returns when it is dead-lettered (a refusal
        no retry can change), or left to its successor, or put back on the queue (a last receive failing
        transiently)."""
        refusal = refusal_of(exc)
        if refusal is not None and refusal.rate_limited and refusal.retry_after is not None:
            raise SlackRateLimitedError(refusal) from exc
        if refusal is not None and refusal.permanent and self.dead_letters is not None:
            self._undeliverable(alarm, body, refusal, receive_count)
            return
        if not (last and transient(exc)):
            raise exc
        if followed:
            logger.warning("alarm %r: its last receive failed, its successor shows it: %r", alarm.name[:255], exc)
            return
        requeued, successor = _copy_of(attributes)
        if not self._again(body, attributes, requeued, successor=successor):
            raise exc

    def _again(self, body: str, attributes: Mapping[str, Any] | None, requeued: int, *, successor: bool) -> bool:
        """A copy of the notification on the queue, past this invocation's deadline (`Requeues.delay`); False when it
        may not (too many), or could not be sent."""
        delay = None if self.requeues is None or self.again is None else self.requeues.delay(requeued)
        if delay is None:
            return False
        assert self.again is not None
        numbers = {REQUEUED_ATTR: requeued + 1, **({SUCCESSOR_ATTR: 1} if successor else {})}
        why = "an alarm's successor" if successor else "an alarm whose last receive failed"
        try:
            self.again.defer(body, delay, spent=0, message_attributes=attributes, numbers=numbers, why=why)
        except Exception:
            logger.exception("an alarm notification could not be put back on the queue")
            return False
        return True

    def _undeliverable(self, alarm: AlarmStateChange, body: str, refusal: SlackRefusal, receives: int) -> None:
        """Dead-lettered once (the DLQ's alarm watches it), with an error line and `AlarmsDropped` (its alarm
        pages someone) naming the alarm and Slack's error."""
        reason = f"alarm {alarm.name[:200]} ({alarm.state}): {refusal.describe()}"
        logger.error("alarm not shown, dead-lettered: %s", reason, extra={"alarm": alarm.name[:255]})
        assert self.dead_letters is not None
        self.dead_letters.put(body, reason=reason, attempts=receives)
        self._count_dropped(f"Slack refused it: {refusal.error}")

    def _count_dropped(self, reason: str) -> None:
        """One `AlarmsDropped` (dimension `service` only, so that one CloudWatch alarm watches it; the reason is
        in the error line logged beside it and in the metadata)."""
        if self.metrics is None:
            return
        self.metrics.add_metric(name=ALARMS_DROPPED, unit=MetricUnit.Count, value=1)
        self.metrics.add_metadata(key="reason", value=reason)
        publish(self.metrics)
