"""Locks and freezes in DynamoDB, and the read API over both (`HoldStore.holds`, `HoldStore.facts`).

A lock is a lease on its target (`LeaseStore.lock`, worker_function/store/leases.py). A freeze lives in the same
leases table, under `freeze#<environment>` (target names cannot contain `#`): the table already holds keyed
records with a TTL (`expires_at`, here the freeze's end) and conditional writes, which is all a freeze needs, so
no new table and no new grant beyond `dynamodb:BatchGetItem` on it (one round trip for a job's lock and freeze).
An item past its `expires_at` is read as gone, whether or not DynamoDB's TTL has removed it yet. Lifting a lock or
ending a freeze marks the item expired and `lifted_by` the job, so a redelivery finds its own work done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.holds import Freeze, Holds, Lock
from shared.inventory import Inventory
from shared.jobs import JobEnvelope
from worker_function.store.leases import Lease, LeaseStore

FREEZE_PREFIX = "freeze#"


@dataclass(frozen=True)
class FreezeRecord:
    """A freeze as stored: the freeze, the job that made it, and the job that ended it (if one did)."""

    freeze: Freeze
    owner_job: str
    lifted_by: str = ""

    def item(self, command: str) -> dict[str, Any]:
        f = self.freeze
        return {
            "target": {"S": f"{FREEZE_PREFIX}{f.environment}"},
            "owner_job": {"S": self.owner_job},
            "requester": {"S": f.by},
            "command": {"S": command},
            "reason": {"S": f.reason},
            "since": {"N": str(f.since)},
            "expires_at": {"N": str(f.until)},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FreezeRecord:
        freeze = Freeze(
            environment=item["target"]["S"][len(FREEZE_PREFIX) :],
            by=item["requester"]["S"],
            reason=item.get("reason", {}).get("S", ""),
            since=int(item["since"]["N"]),
            until=int(item["expires_at"]["N"]),
            job_id=item["owner_job"]["S"],
        )
        return cls(freeze, item["owner_job"]["S"], item.get("lifted_by", {}).get("S", ""))


class HoldStore:
    """Locks (through the lease store) and freezes on the leases table; `now` is the worker's clock (epoch s)."""

    def __init__(self, table: str, *, client: Any, lock_ttl_s: int, now: Callable[[], float] = time.time) -> None:
        self._table = table
        self._client = client
        self._now = now
        self.lock_ttl_s = lock_ttl_s
        self.leases = LeaseStore(table, client=client, now=now)

    # -- locks ---------------------------------------------------------------------------------------------

    def lock(self, target: str, job: JobEnvelope, reason: str) -> Lease:
        """Lock the target for the job's requester (`LockRefusedError` when it is held)."""
        return self.leases.lock(target, job, reason, ttl_s=self.lock_ttl_s)

    def lease_on(self, target: str) -> Lease | None:
        """The lease item on the target (a job's or a lock, standing or lifted), None when there is none."""
        return self.leases.holder(target)

    def unlock(self, lock: Lease, job: JobEnvelope) -> bool:
        return self.leases.unlock(lock, job)

    # -- freezes -------------------------------------------------------------------------------------------

    def freeze_record(self, environment: str) -> FreezeRecord | None:
        """The environment's freeze item (standing, ended or lapsed), None when there is none."""
        key = {"target": {"S": f"{FREEZE_PREFIX}{environment}"}}
        item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return FreezeRecord.from_item(item["Item"]) if "Item" in item else None

    def freeze(self, freeze: Freeze, job: JobEnvelope, *, replacing: str | None = None) -> bool:
        """Write the freeze, unless another one stands that is neither this job's nor `replacing` (the owner job
        of the standing freeze the caller may replace), or this job's own was ended since: False then."""
        record = FreezeRecord(freeze, job.job_id)
        values = {":now": {"N": str(int(self._now()))}, ":job": {"S": job.job_id}}
        # This job's own freeze is written again only while nobody ended it: a retry after an /ops-unfreeze must
        # not put it back.
        others = "expires_at <= :now"
        if replacing:
            others += " OR owner_job = :seen"
            values[":seen"] = {"S": replacing}
        condition = (
            "attribute_not_exists(target) OR (owner_job = :job AND attribute_not_exists(lifted_by))"
            f" OR (owner_job <> :job AND ({others}))"
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item=record.item(job.display),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def unfreeze(self, record: FreezeRecord, job: JobEnvelope) -> bool:
        """End exactly this freeze: marked ended by the job and expired. False when it changed meanwhile."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"target": {"S": f"{FREEZE_PREFIX}{record.freeze.environment}"}},
                UpdateExpression="SET expires_at = :past, lifted_by = :job",
                ConditionExpression="owner_job = :owner AND (attribute_not_exists(lifted_by) OR lifted_by = :job)",
                ExpressionAttributeValues={
                    ":past": {"N": str(int(self._now()) - 1)},
                    ":job": {"S": job.job_id},
                    ":owner": {"S": record.owner_job},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- reading -------------------------------------------------------------------------------------------

    def facts(self, target: str, environment: str | None) -> tuple[Lock | None, Freeze | None]:
        """The target's lock and its environment's freeze, standing now: one consistent BatchGetItem."""
        keys = [target] + ([f"{FREEZE_PREFIX}{environment}"] if environment else [])
        lock, freeze = None, None
        now = self._now()
        for item in self._batch_get(keys):
            name = item["target"]["S"]
            if name.startswith(FREEZE_PREFIX):
                found = FreezeRecord.from_item(item).freeze
                freeze = found if found.standing(now) else None
            else:
                lease = Lease.from_item(item)
                lock = lease.lock if lease.lock is not None and lease.lock.standing(now) else None
        return lock, freeze

    def hold_on(self, target: str, environment: str | None) -> Lock | Freeze | None:
        """What keeps a mutating command off the target now: its lock, else its environment's freeze (a dry run)."""
        lock, freeze = self.facts(target, environment)
        return lock or freeze

    def current_locks(self, targets: list[str]) -> list[Lock]:
        """The locks standing now on these targets."""
        now = self._now()
        locks = [Lease.from_item(item).lock for item in self._batch_get(targets)]
        return [lock for lock in locks if lock is not None and lock.standing(now)]

    def current_freezes(self, environments: list[str]) -> list[Freeze]:
        """The freezes standing now on these environments."""
        now = self._now()
        items = self._batch_get([f"{FREEZE_PREFIX}{e}" for e in environments])
        freezes = [FreezeRecord.from_item(item).freeze for item in items]
        return [f for f in freezes if f.standing(now)]

    def holds(self, inventory: Inventory) -> Holds:
        """Every lock and freeze standing now on the inventory's targets and environments (`/ops-jobs`, App Home;
        `shared.holds.hold_on` answers for one target)."""
        environments: dict[str, str] = {name: target.environment for name, target in inventory.targets.items()}
        keys = [*inventory.targets, *(f"{FREEZE_PREFIX}{e}" for e in inventory.environments())]
        locks, freezes = [], []
        for item in self._batch_get(keys):
            if item["target"]["S"].startswith(FREEZE_PREFIX):
                freezes.append(FreezeRecord.from_item(item).freeze)
            else:
                lock = Lease.from_item(item).lock
                if lock is not None:
                    locks.append(lock)
        return Holds.standing_at(self._now(), locks, freezes, environments)

    def _batch_get(self, names: list[str]) -> list[dict[str, Any]]:
        """The items of these keys (consistent reads), 100 keys per call, unprocessed keys asked again."""
        found: list[dict[str, Any]] = []
        unique = sorted(set(names))
        for start in range(0, len(unique), 100):
            keys: list[dict[str, Any]] = [{"target": {"S": n}} for n in unique[start : start + 100]]
            for _ in range(5):
                if not keys:
                    break
                response = self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                )
                found += response.get("Responses", {}).get(self._table, [])
                keys = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        return found
