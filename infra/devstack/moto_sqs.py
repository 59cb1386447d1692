"""Fixes for moto's SQS model, applied only inside the moto server the local stack starts
(`python -m infra.devstack.moto_server`, see `MotoServer`); moto itself is not modified on disk.

Why: moto 5.2's in-memory queue makes calls that should not depend on the queue's depth cost time
in proportion to it, with a large constant. Measured in-process at a depth of 1,000 messages
(`tests/integration/test_moto_sqs.py` checks the behaviour, bench/scaling.py the effect):
SendMessage 1.3 -> 42 ms, a ReceiveMessage of 10 about 780 ms. Behind a threaded HTTP server that
shares one GIL, one slow call delays every other client of moto: the ack's SendMessage waits behind
the workers' receives, so the local stack's ack latency grew with the backlog. The causes:

- `Message.visible` and `Message.delayed` each read the clock through `unix_time_millis()`, which
  builds two datetimes (~7 us); `Queue.messages` and the three `ApproximateNumberOf*` counts call them
  for every message of the queue.
- `Queue.attributes` computes those three counts (three scans of the queue) and is built whole to read
  one static attribute: SendMessage does it for `ContentBasedDeduplication`, and ReceiveMessage does
  it three times per message received (`is_message_valid_based_on_retention_period` reads
  `MessageRetentionPeriod` through `get_queue_attributes`).
- `Message.had_receipt_handle` builds a list of all the message's receipt handles each time;
  DeleteMessage calls it for every message of the queue, twice.

The fixes keep moto's semantics (visibility, delays, receive counts, redrive to the DLQ, deletes by
any receipt handle the message ever had, the counts GetQueueAttributes reports): each scan reads the
clock once instead of once per message and the same comparisons (`now > visible_at`,
`now < delayed_until`) are made; the retention check reads the queue's retention period directly.
A scan is still linear in the depth, but at ~0.1 us a message instead of ~15 us. A moto of another
version than `TESTED_MOTO` is left alone (`apply` returns False), so an upgrade cannot silently change
what these replace.
"""

from __future__ import annotations

from typing import Any

#: The moto release these replacements were written against (and tested with).
TESTED_MOTO = "5.2."


def apply() -> bool:
    """Install the fixes into moto's SQS model classes; False (and nothing changed) for another moto."""
    import moto
    from moto.sqs import models

    if not str(getattr(moto, "__version__", "")).startswith(TESTED_MOTO):
        return False
    queue, message, backend = models.Queue, models.Message, models.SQSBackend
    if getattr(queue, "_opsbot_fixed", False):
        return True

    def now_ms() -> float:
        # Looked up at each call: whatever moto's module uses as its clock is used here too.
        return float(models.unix_time_millis())

    def messages(self: Any) -> list[Any]:
        """Visible and not delayed (moto: `message.visible and not message.delayed`, one clock read)."""
        now = now_ms()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def approximate_number_of_messages_delayed(self: Any) -> int:
        now = now_ms()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def approximate_number_of_messages_not_visible(self: Any) -> int:
        now = now_ms()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def approximate_number_of_messages(self: Any) -> int:
        return len(self.messages)

    def had_receipt_handle(self: Any, receipt_handle: str) -> bool:
        """The current or any earlier receipt handle (moto: `in self.all_receipt_handles`, without the list)."""
        return receipt_handle == self.receipt_handle or receipt_handle in self._old_receipt_handles

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        """moto reads the period via `get_queue_attributes`, i.e. builds `Queue.attributes` three times."""
        retention_period = self.get_queue(queue_name).message_retention_period
        retain_until = retention_period + message.sent_timestamp / 1000
        return not retain_until <= models.unix_time()

    queue.messages = property(messages)  # type: ignore[assignment, method-assign]
    queue.approximate_number_of_messages_delayed = property(approximate_number_of_messages_delayed)  # type: ignore[assignment, method-assign]
    queue.approximate_number_of_messages_not_visible = property(approximate_number_of_messages_not_visible)  # type: ignore[assignment, method-assign]
    queue.approximate_number_of_messages = property(approximate_number_of_messages)  # type: ignore[assignment, method-assign]
    message.had_receipt_handle = had_receipt_handle  # type: ignore[method-assign]
    backend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    queue._opsbot_fixed = True  # type: ignore[attr-defined]
    return True
