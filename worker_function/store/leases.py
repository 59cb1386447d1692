"""Target leases in DynamoDB: one mutating job per target at a time, expiring by themselves after a crash.

A lock (`/ops-lock payment incident 42`) is a lease too, held by a person instead of a job: its `owner_job` is
`lock:<job id of the /ops-lock>`, it carries a `reason`, and it does not expire by the job TTL but after
its own long, explicit lifetime (`WorkerSettings.lock_ttl_s`, 24 h by default). While it stands no job can
take the target (the same conditional write that keeps two jobs apart), and `/ops-unlock` lifts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.holds import Lock
from shared.jobs import JobEnvelope
from worker_function.errors import LockRefusedError, TargetBusyError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    target: str
    owner_job: str
    requester: str
    command: str
    since: int
    expires_at: int
    #: Set on a lock: why the person locked the target (a job's lease has none).
    reason: str = ""
    #: The job that lifted this lock (`/ops-unlock`): the lease then stands expired until the TTL removes it.
    lifted_by: str = ""

    @property
    def since_hhmm(self) -> str:
        return datetime.fromtimestamp(self.since, UTC).strftime("%H:%M UTC")

    @property
    def lock(self) -> Lock | None:
        """The lock this lease is, or None for a job's lease."""
        if not self.owner_job.startswith(LOCK_OWNER):
            return None
        job_id = self.owner_job[len(LOCK_OWNER) :]
        return Lock(self.target, self.requester, self.reason, self.since, self.expires_at, job_id)

    def item(self) -> dict[str, Any]:
        item = {
            "target": {"S": self.target},
            "owner_job": {"S": self.owner_job},
            "requester": {"S": self.requester},
            "command": {"S": self.command},
            "since": {"N": str(self.since)},
            "expires_at": {"N": str(self.expires_at)},
        }
        if self.reason:
            item["reason"] = {"S": self.reason}
        if self.lifted_by:
            item["lifted_by"] = {"S": self.lifted_by}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Lease:
        return cls(
            target=item["target"]["S"],
            owner_job=item["owner_job"]["S"],
            requester=item["requester"]["S"],
            command=item["command"]["S"],
            since=int(item["since"]["N"]),
            expires_at=int(item["expires_at"]["N"]),
            reason=item.get("reason", {}).get("S", ""),
            lifted_by=item.get("lifted_by", {}).get("S", ""),
        )


#: The `owner_job` of a lock starts with this (a job id never does: it is hex).
LOCK_OWNER = "lock:"


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

    def lock(self, target: str, job: JobEnvelope, reason: str, *, ttl_s: int) -> Lease:
        """Lock the target for the job's requester: free, lapsed, already this job's (a redelivery) and not lifted
        since, or the same person's lock (its reason and lifetime renewed). Otherwise `LockRefusedError` naming
        who holds it (this job's own lock, lifted, when an /ops-unlock came between two attempts)."""
        now = int(self._now())
        owner = f"{LOCK_OWNER}{job.job_id}"
        lease = Lease(target, owner, job.requester.user_id, job.display, now, now + ttl_s, reason)
        for _ in range(3):  # the holder may release between our write and our read
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=lease.item(),
                    # This job's own lock is written again only while nobody lifted it: a retry after an
                    # /ops-unlock must not put it back (`lifted_by` stays on the item until it is replaced).
                    ConditionExpression=(
                        "attribute_not_exists(target) OR (owner_job = :owner AND attribute_not_exists(lifted_by))"
                        " OR (owner_job <> :owner AND (expires_at < :now"
                        " OR (begins_with(owner_job, :lock) AND requester = :user)))"
                    ),
                    ExpressionAttributeValues={
                        ":now": {"N": str(now)},
                        ":owner": {"S": owner},
                        ":lock": {"S": LOCK_OWNER},
                        ":user": {"S": job.requester.user_id},
                    },
                )
                return lease
            except self._client.exceptions.ConditionalCheckFailedException:
                holder = self.holder(target)
                if holder is not None:
                    raise LockRefusedError(holder) from None
        raise LockRefusedError(self.holder(target) or lease)

    def unlock(self, lock: Lease, job: JobEnvelope) -> bool:
        """Lift exactly this lock (its owner unchanged since it was read): it is marked lifted by the job and
        expired, so the target is free at once and a redelivery of the same `/ops-unlock` finds its own work.
        False when someone else changed or lifted it first."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"target": {"S": lock.target}},
                UpdateExpression="SET expires_at = :past, lifted_by = :job",
                ConditionExpression="owner_job = :owner AND (attribute_not_exists(lifted_by) OR lifted_by = :job)",
                ExpressionAttributeValues={
                    ":past": {"N": str(int(self._now()) - 1)},
                    ":job": {"S": job.job_id},
                    ":owner": {"S": lock.owner_job},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

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
