"""When a queue message's last receive puts it back on the queue itself, and with what delay: one rule for jobs
(`dispatch`) and alarms (`alarms.AlarmFeed`).

SQS moves a message to the DLQ after `maxReceiveCount` receives, silently: a Lambda that dies on the last one (a
timeout, a crash) runs no code to tell anyone. So a last receive first puts a *successor* on the queue, delayed past
this invocation's deadline: if the invocation dies, the successor takes over; if it ends the message's work, the
successor finds it done and does nothing. A last receive that fails transiently leaves it to its successor, or (a
successor's own last receive: it queues none of its own) puts itself back with a growing delay. A job carries how
often it was put back in its envelope (`requeued`, `successor`); an alarm, whose body is AWS's, in message attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import WORKER_TIMEOUT_SECONDS

#: A message is put back on the queue by the worker at most this many times before it is given up.
MAX_REQUEUES = 5
REQUEUE_BASE_S = 30
#: SQS's largest DelaySeconds.
SQS_MAX_DELAY_S = 900


@dataclass
class Requeues:
    """The queue's receive count and the deployment's delay cap; `invocation_s`: how long the invocation running now
    may still run (its run-once records expire with it), set when it starts."""

    max_receive_count: int
    max_delay_s: int = SQS_MAX_DELAY_S
    invocation_s: float = float(WORKER_TIMEOUT_SECONDS)

    def last(self, receive_count: int) -> bool:
        """Whether this is the message's last receive (SQS dead-letters it if it fails or dies now)."""
        return receive_count >= self.max_receive_count

    def delay(self, requeued: int) -> int | None:
        """The delay of the message's next copy (`requeued`: how often it was put back already): past the deadline of
        any invocation running now (at least `REQUEUE_BASE_S`), doubling each time, capped by the deployment and by
        SQS; None after `MAX_REQUEUES`."""
        if requeued >= MAX_REQUEUES:
            return None
        delay = max(self.invocation_s + 1, REQUEUE_BASE_S) * 2**requeued
        return int(min(delay, self.max_delay_s, SQS_MAX_DELAY_S))
