"""One decision per confirmation prompt or approval request: confirmed, cancelled, approved, rejected or
expired, whichever is written first (a conditional write in DynamoDB).

A prompt can be decided by several parties racing each other: the requester's Confirm or Cancel, an
approver's Approve or Reject, and the expiry job queued with the prompt. Each writes its outcome under the
prompt's job id only if no outcome is there yet; exactly one wins, and only the winner acts (runs the job,
or tells everyone it was cancelled, rejected or expired). A redelivery of the winner wins again (same
outcome, same person), so a retried step is not turned away by its own decision.

Items live in the leases table under `decision#<job id>` (target names cannot contain `#`), with its TTL
attribute `expires_at`. An approval request also records where its message is in the approvals channel
(`channel`, `ts`), so whoever decides it can edit that message (chat.update) and remove its buttons, and
who may decide it (`approvers`, from rule `rule`), so a rejection can be checked against them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger(__name__)

#: `refused`: a confirmation prompt shown on a locked target or in a frozen environment, refused before its
#: Confirm (`control/settle.py`).
Outcome = Literal["confirmed", "cancelled", "approved", "rejected", "expired", "refused"]

#: How long a decision is kept: far longer than a prompt (5 min) or an approval request (1 h) lives, plus
#: the SQS retries of a job that decides it late.
DECISION_TTL_S = 2 * 86400
KEY_PREFIX = "decision#"


@dataclass(frozen=True)
class Decision:
    outcome: str
    by: str = ""
    #: Where the approval request's message is (None for a confirmation prompt).
    channel: str | None = None
    ts: str | None = None
    #: Who may decide the approval request (user ids, or user group ids starting with S), and their rule.
    approvers: tuple[str, ...] = ()
    rule: str = ""
    #: This claim is the decision (the first, or a redelivery of it).
    won: bool = False
    #: A runbook's waiting state (`open_task`): its task token, who ran the runbook, until when it may be answered.
    token: str = ""
    requester: str = ""
    answer_by: int = 0


def _decision(item: dict[str, Any], *, won: bool) -> Decision:
    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value and "S" in value else None

    approvers = (item.get("approvers") or {}).get("L") or []
    return Decision(
        outcome=text("outcome") or "",
        by=text("decided_by") or "",
        channel=text("channel"),
        ts=text("ts"),
        approvers=tuple(str(a["S"]) for a in approvers if "S" in a),
        rule=text("rule") or "",
        won=won,
        token=text("task_token") or "",
        requester=text("requester") or "",
        answer_by=int((item.get("answer_by") or {}).get("N", "0")),
    )


class Decisions:
    """Conditional writes on the leases table (partition key `target`, TTL `expires_at`)."""

    def __init__(
        self, table: str, *, client: Any, ttl_s: int = DECISION_TTL_S, now: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self._client = client
        self._ttl = ttl_s
        self._now = now

    def _key(self, prompt_id: str) -> dict[str, Any]:
        return {"target": {"S": f"{KEY_PREFIX}{prompt_id}"}}

    def open(self, prompt_id: str, channel: str, ts: str, *, approvers: Sequence[str] = (), rule: str = "") -> None:
        """Remember where an approval request's message is and who may decide it (an outcome already there
        is kept)."""
        self._client.update_item(
            TableName=self._table,
            Key=self._key(prompt_id),
            UpdateExpression=(
                "SET channel = :c, ts = :t, #a = :a, #r = :r, expires_at = if_not_exists(expires_at, :e)"
            ),
            ExpressionAttributeNames={"#a": "approvers", "#r": "rule"},
            ExpressionAttributeValues={
                ":c": {"S": channel},
                ":t": {"S": ts},
                ":a": {"L": [{"S": a} for a in approvers]},
                ":r": {"S": rule},
                ":e": {"N": str(int(self._now()) + self._ttl)},
            },
        )

    def open_task(
        self, prompt_id: str, token: str, *, requester: str, answer_by: int, approvers: Sequence[str], rule: str
    ) -> None:
        """Remember a runbook's waiting state before it is asked about: its task token (answered once, by whoever
        wins `claim`), who ran the runbook (never its approver), until when, and who may answer."""
        self._client.update_item(
            TableName=self._table,
            Key=self._key(prompt_id),
            UpdateExpression=(
                "SET task_token = :k, requester = :q, answer_by = :b, #a = :a, #r = :r, "
                "expires_at = if_not_exists(expires_at, :e)"
            ),
            ExpressionAttributeNames={"#a": "approvers", "#r": "rule"},
            ExpressionAttributeValues={
                ":k": {"S": token},
                ":q": {"S": requester},
                ":b": {"N": str(answer_by)},
                ":a": {"L": [{"S": a} for a in approvers]},
                ":r": {"S": rule},
                ":e": {"N": str(int(self._now()) + self._ttl)},
            },
        )

    def claim(self, prompt_id: str, outcome: Outcome, by: str = "") -> Decision:
        """Decide the prompt, unless it is decided already: the decision that stands, `won` if it is this one."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(prompt_id),
                UpdateExpression="SET #o = :o, #b = :b, decided_at = :now, expires_at = :e",
                ConditionExpression="attribute_not_exists(#o) OR (#o = :o AND #b = :b)",
                ExpressionAttributeNames={"#o": "outcome", "#b": "decided_by"},
                ExpressionAttributeValues={
                    ":o": {"S": outcome},
                    ":b": {"S": by},
                    ":now": {"N": str(int(self._now()))},
                    ":e": {"N": str(int(self._now()) + self._ttl)},
                },
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            item = self._client.get_item(TableName=self._table, Key=self._key(prompt_id), ConsistentRead=True)
            standing = _decision(item.get("Item") or {}, won=False)
            logger.info("prompt %s: %s by %r came too late, it was %s", prompt_id, outcome, by, standing.outcome)
            return standing
        logger.info("prompt %s: %s by %r", prompt_id, outcome, by)
        return _decision(response.get("Attributes") or {}, won=True)

    def get(self, prompt_id: str) -> Decision | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(prompt_id), ConsistentRead=True)
        return _decision(item["Item"], won=False) if "Item" in item else None
