"""Audit records: who asked for what, on which target, where, when, and what came of it (DynamoDB, TTL).

Item layout: partition key `target` (the command's subject, `-` when it has none), sort key
`sk` = `<issued_at ISO>#<job_id>#<order>-<event>`: deterministic per job and event, so a redelivered job
rewrites the same items instead of adding more, and a target's history reads newest first with one Query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

AuditEvent = Literal[
    "request",
    "denial",
    "confirmation",
    "cancelled",
    "approval",
    "rejected",
    "start",
    "outcome",
    "expired",
    "cancel",
    "dry_run",
    "lock",
    "unlock",
    "freeze",
    "unfreeze",
    "override",
]
_ORDER = {
    "request": 0,
    "denial": 1,
    "confirmation": 2,
    "cancelled": 2,
    "approval": 3,
    "rejected": 3,
    "override": 4,
    "start": 4,
    "lock": 5,
    "unlock": 5,
    "freeze": 5,
    "unfreeze": 5,
    "outcome": 5,
    "expired": 6,
    "cancel": 6,
    "dry_run": 7,
}


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    event: AuditEvent
    job_id: str
    command: str
    text: str = ""
    user_id: str
    channel_id: str
    issued_at: datetime
    at: datetime
    #: The rule that decided (denial), who confirmed, the outcome's first line...
    detail: str = ""

    @property
    def sort_key(self) -> str:
        return f"{self.issued_at.isoformat()}#{self.job_id}#{_ORDER[self.event]}-{self.event}"

    def to_item(self, expires_at: int) -> dict[str, Any]:
        """The DynamoDB item (low-level client types)."""
        values = self.model_dump(mode="json")
        item: dict[str, Any] = {k: {"S": str(v)} for k, v in values.items() if v != ""}
        item["sk"] = {"S": self.sort_key}
        item["expires_at"] = {"N": str(expires_at)}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AuditRecord:
        fields = {k: v["S"] for k, v in item.items() if "S" in v and k in cls.model_fields}
        return cls.model_validate(fields)
