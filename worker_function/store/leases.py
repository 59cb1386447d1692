"""Target leases in DynamoDB: one mutating job per target at a time, expiring by themselves after a crash."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.jobs import JobEnvelope
from worker_function.errors import TargetBusyError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    target: str
    owner_job: str
    requester: str
    command: str
    since: int
    expires_at: int

    @property
    def since_hhmm(self) -> str:
        return datetime.fromtimestamp(self.since, UTC).strftime("%H:%M UTC")

    def item(self) -> dict[str, Any]:
        return {
            "target": {"S": self.target},
            "owner_job": {"S": self.owner_job},
            "requester": {"S": self.requester},
            "command": {"S": self.command},
            "since": {"N": str(self.since)},
            "expires_at": {"N": str(self.expires_at)},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Lease:
        return cls(
            target=item["target"]["S"],
            owner_job=item["owner_job"]["S"],
            requester=item["requester"]["S"],
            command=item["command"]["S"],
            since=int(item["since"]["N"]),
            expires_at=int(item["expires_at"]["N"]),
        )


class LeaseStore:
    """Conditional writes on a table keyed by `target` (TTL attribute `expires_at`)."""

    def __init__(self, table: str, *, client: Any, ttl_s: int = 300, now: Callable[[], float] = time.time) -> None:
        self._table = table
        self._client = client
        self._ttl = ttl_s
        self._now = now

    def acquire(self, target: str, job: JobEnvelope, *, since: int | None = None) -> Lease:
        """Take the target, or raise `TargetBusyError` naming who holds it. A job may re-take its own lease
        (a redelivery after a crash, or its next step); an expired lease is free."""
        now = int(self._now())
        lease = Lease(target, job.job_id, job.requester.user_id, job.display, since or now, now + self._ttl)
        for _ in range(3):  # the holder may release between our write and our read
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=lease.item(),
                    ConditionExpression="attribute_not_exists(target) OR expires_at < :now OR owner_job = :job",
                    ExpressionAttributeValues={":now": {"N": str(now)}, ":job": {"S": job.job_id}},
                )
                return lease
            except self._client.exceptions.ConditionalCheckFailedException:
                holder = self.holder(target)
                if holder is not None:
                    raise TargetBusyError(holder) from None
        raise TargetBusyError(self.holder(target) or lease)

    def holder(self, target: str) -> Lease | None:
        item = self._client.get_item(TableName=self._table, Key={"target": {"S": target}}, ConsistentRead=True)
        return Lease.from_item(item["Item"]) if "Item" in item else None

    def renew(self, lease: Lease, *, extra_s: float = 0) -> Lease:
        """Push the expiry to a full lifetime from now, plus `extra_s` (a step's wait before the next one)."""
        renewed = Lease(**{**lease.__dict__, "expires_at": int(self._now() + self._ttl + extra_s)})
        self._client.update_item(
            TableName=self._table,
            Key={"target": {"S": lease.target}},
            UpdateExpression="SET expires_at = :exp",
            ConditionExpression="owner_job = :job",
            ExpressionAttributeValues={":exp": {"N": str(renewed.expires_at)}, ":job": {"S": lease.owner_job}},
        )
        return renewed

    def release(self, lease: Lease) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"target": {"S": lease.target}},
                ConditionExpression="owner_job = :job",
                ExpressionAttributeValues={":job": {"S": lease.owner_job}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            logger.warning("lease on %s was no longer held by job %s", lease.target, lease.owner_job)

    @contextmanager
    def hold(self, target: str, job: JobEnvelope) -> Iterator[Lease]:
        """Hold the lease while the block runs, renewing it every third of its lifetime."""
        with self.step(target, job) as held:
            yield held.lease

    @contextmanager
    def step(self, target: str, job: JobEnvelope, *, since: int | None = None) -> Iterator[HeldLease]:
        """Hold the lease for one step of a job (renewed every third of its lifetime while the step runs).
        At the end it is released, unless the step called `keep(delay)`: a waiting job keeps its target
        until its next step, which takes it again as its owner (renewing it)."""
        held = HeldLease(self.acquire(target, job, since=since))
        lease = held.lease
        stop = threading.Event()

        def renew_until_stopped() -> None:
            current = lease
            while not stop.wait(self._ttl / 3):
                try:
                    current = self.renew(current)
                except Exception:  # the next renewal or the expiry settles it
                    logger.exception("could not renew the lease on %s", target)

        renewer = threading.Thread(target=renew_until_stopped, name=f"lease-{target}", daemon=True)
        renewer.start()
        try:
            yield held
        finally:
            stop.set()
            renewer.join()
            if held.keep_for_s is None:
                self.release(lease)
            else:
                try:
                    self.renew(lease, extra_s=held.keep_for_s)
                except Exception:  # the next step re-takes it as its owner; the expiry settles a crash
                    logger.exception("could not keep the lease on %s", target)


@dataclass
class HeldLease:
    """A lease held for one step; `keep(delay)` keeps it past the step, for the job's next step."""

    lease: Lease
    keep_for_s: float | None = None

    def keep(self, delay_s: float) -> None:
        self.keep_for_s = delay_s
