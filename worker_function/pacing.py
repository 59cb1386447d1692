"""A queue message Slack asked to wait for goes back on the queue with that delay, its receives not spent.

SQS counts every receive (`ApproximateReceiveCount`) and moves a message to the DLQ after `maxReceiveCount`;
a message made visible again later (ChangeMessageVisibility) is received once more and spends one. So a
rate-limited message is sent anew with `DelaySeconds` (SQS: 0..900) carrying the receives it had spent in the
`opsbot_spent_receives` attribute, and the received copy is deleted (its record succeeds). The worker counts
a message's attempts as its receives plus the receives it carries: a wait for Slack is not an attempt.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol

from shared.errors import OpsbotError

logger = logging.getLogger(__name__)

#: The receives a deferred message had spent before it was sent again.
SPENT_RECEIVES_ATTR = "opsbot_spent_receives"
#: SQS's largest DelaySeconds.
MAX_DELAY_S = 900


class DeferError(OpsbotError):
    """The message cannot be handled for `delay_s` seconds (Slack's Retry-After; another copy in flight): it goes
    back on the queue with that delay, without spending a receive."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = max(1, math.ceil(delay_s))


def spent_receives(message_attributes: Mapping[str, Any] | None) -> int:
    """The receives a message carries from before it was deferred."""
    return count_attribute(message_attributes, SPENT_RECEIVES_ATTR)


def count_attribute(message_attributes: Mapping[str, Any] | None, name: str) -> int:
    """A count the worker set on a message it sent again (Lambda's event shape: `stringValue`); 0 when absent."""
    value = (message_attributes or {}).get(name) or {}
    raw = value.get("stringValue") or value.get("StringValue") if isinstance(value, Mapping) else None
    try:
        return max(0, int(raw)) if raw is not None else 0
    except ValueError:
        return 0


class Deferrals:
    """Sends a message again with a delay (the worker may send to its own queue: continuations do)."""

    def __init__(self, queue_url: str, *, client: Any, max_delay_s: int = MAX_DELAY_S) -> None:
        self._url = queue_url
        self._client = client
        #: The deployment's cap on a re-queue's DelaySeconds (`OPSBOT_MAX_DELAY`), as for a re-queued step.
        self._max_delay_s = max(0, min(int(max_delay_s), MAX_DELAY_S))

    def defer(
        self,
        body: str,
        delay_s: int,
        *,
        spent: int,
        message_attributes: Mapping[str, Any] | None = None,
        numbers: Mapping[str, int] | None = None,
        why: str = "rate-limited by Slack",
    ) -> str:
        """Send `body` again in `delay_s`, with its attributes, `spent` receives and `numbers` (attributes set anew:
        an alarm's copy count, `alarms.REQUEUED_ATTR`)."""
        numbers = {SPENT_RECEIVES_ATTR: spent, **(numbers or {})}
        attributes: dict[str, Any] = {}
        for name, value in (message_attributes or {}).items():
            string = value.get("stringValue") or value.get("StringValue") if isinstance(value, Mapping) else None
            if string is not None and name not in numbers:
                attributes[name] = {"DataType": str(value.get("dataType") or "String"), "StringValue": str(string)}
        for name, number in numbers.items():
            attributes[name] = {"DataType": "Number", "StringValue": str(number)}
        delay = max(0, min(int(delay_s), self._max_delay_s))
        response = self._client.send_message(
            QueueUrl=self._url, MessageBody=body, DelaySeconds=delay, MessageAttributes=attributes
        )
        logger.info("%s: the message comes back in %d s (%d receives spent)", why, delay, spent)
        return str(response["MessageId"])


class _Alarms(Protocol):
    def handle(self, body: str, receive_count: int = 1, attributes: Mapping[str, Any] | None = None) -> bool: ...


class _Jobs(Protocol):
    def handle_record(self, body: str, receive_count: int) -> None: ...


def handle_message(
    body: str,
    receive_count: int,
    message_attributes: Mapping[str, Any] | None,
    *,
    alarms: _Alarms,
    jobs: _Jobs,
    deferrals: Deferrals,
) -> None:
    """One queue message, an alarm or a job; its attempt is its receives plus those it spent before a deferral.
    A `DeferError` (Slack's long rate limit) sends it back on the queue with that delay (this copy then counts
    as handled)."""
    attempt = receive_count + spent_receives(message_attributes)
    try:
        if alarms.handle(body, attempt, message_attributes):
            return
        jobs.handle_record(body, attempt)
    except DeferError as exc:
        deferrals.defer(body, exc.delay_s, spent=attempt - 1, message_attributes=message_attributes)
