"""The audit trail's writer and reader (the worker is the only function that touches DynamoDB)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.audit import AuditEvent, AuditRecord
from shared.jobs import JobEnvelope, audit_target, utcnow

logger = logging.getLogger(__name__)


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
        record = AuditRecord(
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
        self._client.put_item(TableName=self.table, Item=record.to_item(int((now + self._retention).timestamp())))
        logger.info("audit %s %s by %s", event, job.display, job.requester.user_id, extra={"job_id": job.job_id})
        return record

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
