"""`opsbot audit`: the audit trail as a table or JSON lines (one record a line), newest first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shared.audit import AuditRecord
from shared.jobs import NO_TARGET


def audit_records(dynamodb: Any, table: str, *, target: str | None = None) -> Iterator[AuditRecord]:
    """Every record of the table (paginated scan), or the target's (query, newest first)."""
    if target is not None:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "target"},
            "ExpressionAttributeValues": {":t": {"S": target}},
            "ScanIndexForward": False,
        }
        pages = dynamodb.get_paginator("query").paginate(**kwargs)
    else:
        # A scan returns the records grouped by target, each oldest first: all of them, then newest first.
        pages = dynamodb.get_paginator("scan").paginate(TableName=table)
        records = [AuditRecord.from_item(item) for page in pages for item in page.get("Items", [])]
        yield from sorted(records, key=lambda r: (r.at, r.sort_key), reverse=True)
        return
    for page in pages:
        for item in page.get("Items", []):
            yield AuditRecord.from_item(item)


def targets_of(records: Iterator[AuditRecord]) -> list[str]:
    """The targets that have records, sorted; the records of commands that name no target are not a target."""
    return sorted({r.target for r in records} - {NO_TARGET})


def to_json_lines(records: Iterator[AuditRecord]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record.model_dump(mode="json"), sort_keys=True)


def format_row(record: AuditRecord) -> str:
    """One record as a line a person reads: when, target, event, who, what, job, detail."""
    command = f"{record.command} {record.text}".strip()
    when = record.at.strftime("%Y-%m-%d %H:%M:%S")
    parts = [when, record.target, record.event, f"<@{record.user_id}>", command, record.job_id[:8], record.detail]
    return "  ".join(p for p in parts if p)
