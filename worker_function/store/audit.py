"""The audit trail's writer and reader (the worker is the only function that touches DynamoDB)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.audit import AuditEvent, AuditRecord
from shared.jobs import JobEnvelope, audit_target, utcnow
from worker_function.errors import AuditWriteError

logger = logging.getLogger(__name__)

#: BatchWriteItem takes at most 25 items per call; items it leaves unprocessed are sent again this often.
BATCH_MAX_ITEMS = 25
BATCH_ATTEMPTS = 5


class AuditLog:
    """Writes one item per (job, event); a redelivery rewrites the same item. Failures propagate: SQS
    delivers the job again rather than let it run unrecorded."""

    def __init__(
        self, table: str, *, client: Any, retention_days: int = 90, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.table = table
        self._client = client
        self._retention = timedelta(days=retention_days)
        self._now = now

    def record(self, job: JobEnvelope, event: AuditEvent, detail: str = "") -> AuditRecord:
        now = self._now()
        record = self._record(job, event, detail, now)
        self._client.put_item(TableName=self.table, Item=record.to_item(int((now + self._retention).timestamp())))
        logger.info("audit %s %s by %s", event, job.display, job.requester.user_id, extra={"job_id": job.job_id})
        return record

    def record_all(self, job: JobEnvelope, notes: Sequence[tuple[AuditEvent, str]]) -> list[AuditRecord]:
        """The job's events in one BatchWriteItem (per 25): the same items `record` writes, one call per job.

        Their sort keys order them (`AuditRecord.sort_key`), not the time they were written; a note repeated
        (a retry) is written once. Items DynamoDB leaves unprocessed (throttling) are sent again, a bounded
        number of times; then the call fails like `record`, so SQS delivers the job again.
        """
        now = self._now()
        expires_at = int((now + self._retention).timestamp())
        records = list({r.sort_key: r for r in (self._record(job, e, d, now) for e, d in notes)}.values())
        for start in range(0, len(records), BATCH_MAX_ITEMS):
            chunk = records[start : start + BATCH_MAX_ITEMS]
            pending: list[dict[str, Any]] = [{"PutRequest": {"Item": r.to_item(expires_at)}} for r in chunk]
            for attempt in range(BATCH_ATTEMPTS):
                response = self._client.batch_write_item(RequestItems={self.table: pending})
                pending = (response.get("UnprocessedItems") or {}).get(self.table) or []
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise AuditWriteError(f"DynamoDB left {len(pending)} records of job {job.job_id} unprocessed")
        for record in records:
            logger.info("audit %s %s by %s", record.event, job.display, record.user_id, extra={"job_id": job.job_id})
        return records

    def _record(self, job: JobEnvelope, event: AuditEvent, detail: str, now: datetime) -> AuditRecord:
        return AuditRecord(
            target=audit_target(job),
            event=event,
            job_id=job.job_id,
            command=job.command,
            text=job.text,
            user_id=job.requester.user_id,
            channel_id=job.requester.channel_id,
            issued_at=job.issued_at,
            at=now,
            detail=detail[:500],
        )

    def history(self, target: str, *, limit: int = 20) -> list[AuditRecord]:
        """The target's most recent records, newest first."""
        response = self._client.query(
            TableName=self.table,
            KeyConditionExpression="#t = :t",
            ExpressionAttributeNames={"#t": "target"},
            ExpressionAttributeValues={":t": {"S": target}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [AuditRecord.from_item(item) for item in response.get("Items", [])]
