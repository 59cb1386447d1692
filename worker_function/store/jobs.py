"""The registry of jobs: one record per job that runs or waits, kept a day after it ended (/ops-jobs,
/ops-cancel, App Home).

A record says what the job is (command, requester, channel, since when), where it is (its step, the last
thing seen, the lease it holds, what it waits for: a confirmation, an approval, its next step) and how it
ended: `finished` with an outcome, or `cancelled` by someone. The ending is one conditional write: a job's
last step writes `finished` only if no cancel is there, a cancel writes `cancelled` only if the job has not
ended, so exactly one of them wins and only the winner tells anyone. A repeat of the winner (a redelivery,
the same person again) wins again.

Items live in the leases table under `job#<job id>` (target names cannot contain `#`), with its TTL
attribute `expires_at`, and carry `registry = "job"` for the table's index `jobs` (partition `registry`,
sort `job_id`): listing the jobs, or finding one by the short id people see, is one Query.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import JOBS_INDEX

logger = logging.getLogger(__name__)

KEY_PREFIX = "job#"
REGISTRY = "job"
#: A job that stopped being seen (a crashed worker) leaves the registry after this long: longer than any
#: job may live (`max_age_s`, 8 h at most) between two of its writes.
ACTIVE_TTL_S = 9 * 3600
#: How long an ended job is kept, so /ops-cancel can say how it ended.
ENDED_TTL_S = 86400
#: At most this many records are read for a listing (bounded work; the messages say "N more").
MAX_LISTED = 500

JobState = Literal["waiting", "running", "finished", "cancelled"]
WaitingFor = Literal["", "confirmation", "approval", "next step"]
ACTIVE: tuple[JobState, ...] = ("waiting", "running")


class GivenUp(BaseModel):
    """Where a job was given up (its requester told it failed): a later step of it, or a later copy of that step
    (one the copy given up put back on the queue: a higher `requeued`), that SQS delivers after all stops quietly."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    step: int = Field(ge=0)
    #: The envelope's `requeued` of the copy given up.
    requeued: int = Field(default=0, ge=0)

    def covers(self, step: int, requeued: int) -> bool:
        """Whether a delivery of `step` (its envelope's `requeued`) comes after the give-up: a later step, or a copy
        the copy given up put back on the queue. The very copy given up again (an operator's redrive from the DLQ)
        is not covered: it runs."""
        return step > self.step or (step == self.step and requeued > self.requeued)


class JobRecord(BaseModel):
    """One job as the registry knows it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str = Field(min_length=8)
    #: The command as typed (`/ops-regression smoke`), its name and its kind.
    display: str = ""
    command: str = ""
    kind: str = ""
    #: The inventory name the command is about (its policy environment comes from it), if any.
    subject: str = ""
    requester: str = ""
    channel: str = ""
    #: Epoch seconds: when the job was asked for, and when the record last changed.
    since: float = 0
    updated_at: float = 0
    step: int = 0
    summary: str = ""
    #: The target whose lease the job holds (None: it holds none).
    lease: str | None = None
    state: JobState = "running"
    waiting_for: WaitingFor = ""
    #: How it ended (the last message's first line, or the prompt's decision), and who cancelled it.
    outcome: str = ""
    cancelled_by: str = ""
    #: The /ops-cancel job that cancelled it: a retry of that very job carries on where it stopped (it is not
    #: told "already cancelled"), any other cancel is.
    cancel_job: str = ""
    #: The operation's state after its last step (what a cancel stops at the target: a build id...).
    step_state: dict[str, Any] = Field(default_factory=dict)
    #: The envelope to answer with (the job's, or its prompt's settlement): requester, response_url.
    envelope: str = ""
    #: Set when the job was given up: where (a step, a copy of it).
    given_up: GivenUp | None = None
    #: This write decided the job's ending (the first, or a repeat of it).
    won: bool = False

    @property
    def short_id(self) -> str:
        return self.job_id[:8]

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobRegistry(Protocol):
    def track(self, record: JobRecord, *, first: bool = False) -> JobRecord | None:
        """Write the record while the job is active (`first`: only if there is none yet, a prompt's): None if
        written, else the record that stands."""
        ...

    def end(
        self,
        job_id: str,
        state: Literal["finished", "cancelled"],
        outcome: str,
        by: str = "",
        *,
        cancel_job: str = "",
        given_up: GivenUp | None = None,
    ) -> JobRecord:
        """End the job unless it ended otherwise: the ending that stands, `won` if it is this one (a cancel names
        its own job, `cancel_job`; a job given up says where, `given_up`)."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def find(self, short_id: str) -> list[JobRecord]:
        """The jobs whose id starts with `short_id` (what people see in messages)."""
        ...

    def active(self) -> list[JobRecord]:
        """The jobs running or waiting, oldest first, at most `MAX_LISTED`."""
        ...


_FIELDS_OUTSIDE = ("state", "outcome", "cancelled_by", "cancel_job")


def record_from_item(item: dict[str, Any], *, won: bool = False) -> JobRecord:
    def text(name: str) -> str:
        value = item.get(name) or {}
        return str(value.get("S", ""))

    values: dict[str, Any] = json.loads(text("record") or "{}")
    values.update({name: text(name) for name in _FIELDS_OUTSIDE if text(name)})
    values.setdefault("job_id", text("job_id"))
    if text("given_up"):
        values["given_up"] = json.loads(text("given_up"))
    return JobRecord.model_validate({**values, "won": won})


class DynamoJobs:
    """Conditional writes on the leases table (partition key `target`, TTL `expires_at`, index `jobs`)."""

    def __init__(self, table: str, *, client: Any, now: Callable[[], float] = time.time) -> None:
        self._table = table
        self._client = client
        self._now = now

    def _key(self, job_id: str) -> dict[str, Any]:
        return {"target": {"S": f"{KEY_PREFIX}{job_id}"}}

    def track(self, record: JobRecord, *, first: bool = False) -> JobRecord | None:
        now = self._now()
        condition = "attribute_not_exists(#s)" if first else "attribute_not_exists(#s) OR #s IN (:w, :r)"
        values = {} if first else {":w": {"S": "waiting"}, ":r": {"S": "running"}}
        inside = record.model_dump(mode="json", exclude={"won", *_FIELDS_OUTSIDE})
        inside["updated_at"] = now
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(record.job_id),
                    "registry": {"S": REGISTRY},
                    "job_id": {"S": record.job_id},
                    "state": {"S": record.state},
                    "record": {"S": json.dumps(inside)},
                    "expires_at": {"N": str(int(now) + ACTIVE_TTL_S)},
                },
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "state"},
                **({"ExpressionAttributeValues": values} if values else {}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            return record_from_item(exc.response.get("Item") or {"job_id": {"S": record.job_id}})
        return None

    def end(
        self,
        job_id: str,
        state: Literal["finished", "cancelled"],
        outcome: str,
        by: str = "",
        *,
        cancel_job: str = "",
        given_up: GivenUp | None = None,
    ) -> JobRecord:
        now = int(self._now())
        if state == "cancelled":  # only an active job, or the same cancel again
            condition = "#s IN (:w, :r) OR (#s = :state AND cancelled_by = :by)"
        else:  # anything but a cancel: a finish that never saw the job start, or the same finish again
            condition = "attribute_not_exists(#s) OR #s IN (:w, :r) OR (#s = :state AND outcome = :o)"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression=(
                    "SET #s = :state, outcome = :o, cancelled_by = :by, cancel_job = :cj, registry = :reg, "
                    "job_id = :id, ended_at = :now, expires_at = :exp" + (", given_up = :gu" if given_up else "")
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":state": {"S": state},
                    ":o": {"S": outcome[:500]},
                    ":by": {"S": by},
                    ":cj": {"S": cancel_job},
                    ":reg": {"S": REGISTRY},
                    ":id": {"S": job_id},
                    ":now": {"N": str(now)},
                    ":exp": {"N": str(now + ENDED_TTL_S)},
                    ":w": {"S": "waiting"},
                    ":r": {"S": "running"},
                    **({":gu": {"S": given_up.model_dump_json()}} if given_up else {}),
                },
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            standing = self.get(job_id) or JobRecord(job_id=job_id, state="finished")
            logger.info("job %s: %s came too late, it is %s", job_id, state, standing.state)
            return standing
        logger.info("job %s %s%s", job_id, state, f" by {by}" if by else "")
        return record_from_item(response.get("Attributes") or {}, won=True)

    def get(self, job_id: str) -> JobRecord | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(job_id), ConsistentRead=True)
        return record_from_item(item["Item"]) if "Item" in item else None

    def find(self, short_id: str) -> list[JobRecord]:
        return self._query("registry = :reg AND begins_with(job_id, :id)", {":id": {"S": short_id.lower()}})

    def active(self) -> list[JobRecord]:
        # The ended jobs of the last day are read and filtered out by DynamoDB: the cap counts active ones only.
        filtered = {
            "FilterExpression": "#s IN (:w, :r)",
            "ExpressionAttributeNames": {"#s": "state"},
        }
        values = {":w": {"S": "waiting"}, ":r": {"S": "running"}}
        records = self._query("registry = :reg", values, **filtered)
        return sorted(records, key=lambda r: r.since)

    def _query(self, condition: str, values: dict[str, Any], **extra: Any) -> list[JobRecord]:
        records: list[JobRecord] = []
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=JOBS_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues={":reg": {"S": REGISTRY}, **values},
            **extra,
        )
        now = self._now()
        for page in pages:
            for item in page.get("Items", []):
                if float((item.get("expires_at") or {}).get("N", "inf")) < now:
                    continue  # past its TTL, not deleted yet (DynamoDB deletes within days)
                records.append(record_from_item(item))
                if len(records) >= MAX_LISTED:
                    return records
        return records
