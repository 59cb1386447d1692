"""Intents: what a job step is about to do to a target, written before it does it (a conditional put).

A side effect (a deployment, a build, a reboot, a message) is made at most once per (job, step, name) by
writing its intent first; a retry that finds the intent reconciles against the target instead of calling
again (`worker_function.effects`). Items live in the leases table under `intent#<job>#<step>#<name>`
(target names cannot contain `#`), with the table's TTL attribute `expires_at`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

KEY_PREFIX = "intent#"
#: The intents of the side effects operations make (`OperationContext.intent`'s names): what a job given up
#: may have done, looked up by `IntentStore.made`.
SIDE_EFFECTS = (
    "ecs-force-new-deployment",
    "ec2-reboot",
    "ecs-rollback",
    "ecs-desired-count",
    "codebuild-start",
    "jenkins-build",
)
#: At most this many of a job's last steps are looked at (a BatchGetItem takes 100 keys).
MADE_STEPS = 8
#: Longer than any job may live (`max_age_s`) plus its SQS retries.
INTENT_TTL_S = 7 * 86400


class Intent(BaseModel):
    """One side effect about to be made: by which job and step, what, and the target's state just before."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=8)
    step: int = Field(ge=0)
    name: str = Field(min_length=1, pattern=r"^[a-z0-9_.-]+$")
    what: str = ""
    #: What the target looked like before the call (e.g. the deployment that was PRIMARY).
    before: dict[str, str] = Field(default_factory=dict)
    written_at: float = 0.0
    #: Which write made it: an intent found with this attempt's own `attempt` is this attempt's write, whose
    #: answer was lost and which the SDK sent again, not an earlier attempt's (nothing was called yet).
    attempt: str = ""

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.job_id}#{self.step}#{self.name}"

    @property
    def token(self) -> str:
        """A client token for APIs that take one (CodeBuild idempotencyToken, ECS RunTask clientToken)."""
        return f"opsbot-{self.job_id}-{self.step}-{self.name}"[:64]


class IntentStore(Protocol):
    def write(self, intent: Intent) -> Intent | None:
        """Write the intent unless one is there: None if written, else the one found (an earlier attempt's)."""
        ...

    def forget(self, intent: Intent) -> None:
        """Remove an intent whose call certainly did not happen."""
        ...

    def made(self, job_id: str, last_step: int) -> list[Intent]:
        """The side effects (`SIDE_EFFECTS`) the job's steps up to `last_step` wrote an intent for: made, or
        maybe made (an intent stays when the call may have reached the target)."""
        ...


class DynamoIntents:
    """Conditional writes on the leases table (partition key `target`, TTL `expires_at`)."""

    def __init__(
        self, table: str, *, client: Any, ttl_s: int = INTENT_TTL_S, now: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self._client = client
        self._ttl = ttl_s
        self._now = now

    def write(self, intent: Intent) -> Intent | None:
        intent = intent.model_copy(update={"written_at": self._now()}) if not intent.written_at else intent
        intent = intent.model_copy(update={"attempt": uuid.uuid4().hex}) if not intent.attempt else intent
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "target": {"S": intent.key},
                    "intent": {"S": intent.model_dump_json()},
                    "expires_at": {"N": str(int(self._now()) + self._ttl)},
                },
                ConditionExpression="attribute_not_exists(target)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item") or {}
            text = (old.get("intent") or {}).get("S")
            found = Intent.model_validate(json.loads(text)) if text else intent
            return None if found.attempt == intent.attempt else found  # our own write, resent by the SDK
        return None

    def forget(self, intent: Intent) -> None:
        self._client.delete_item(TableName=self._table, Key={"target": {"S": intent.key}})

    def made(self, job_id: str, last_step: int) -> list[Intent]:
        steps = range(max(last_step - MADE_STEPS + 1, 0), last_step + 1)
        keys = [{"target": {"S": f"{KEY_PREFIX}{job_id}#{step}#{name}"}} for step in steps for name in SIDE_EFFECTS]
        response = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})
        items = response.get("Responses", {}).get(self._table, [])
        found = [Intent.model_validate(json.loads(item["intent"]["S"])) for item in items if "intent" in item]
        return sorted(found, key=lambda intent: (intent.step, intent.written_at))
