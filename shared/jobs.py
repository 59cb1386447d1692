"""The job envelope that travels from the ack function to the worker through SQS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.commands import AuditNoteArgs, JobArgs, SettleArgs, spec_for_kind
from shared.errors import JobFormatError

#: v1: a job in one step (issue 4). v2 adds `continuation`: the state of a job that runs as several steps.
#: The ack still writes v1 (a new job has no continuation); the worker reads both and writes v2 for steps.
SCHEMA_VERSION: Literal[1] = 1
CONTINUATION_SCHEMA_VERSION: Literal[2] = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)

# Fixed namespace: the same Slack request always maps to the same job id.
_JOB_NAMESPACE = uuid.UUID("6f707362-6f74-4a6f-8200-736c61636b00")


def job_id_for(team_id: str, request_key: str | None) -> str:
    """Deterministic job id from Slack's own identifiers (team + trigger_id, or event_id).

    A Slack retry or our own resend of one request is the same job. With no key (never the
    case for real Slack payloads) a random id is used.
    """
    if not request_key:
        return uuid.uuid4().hex
    return uuid.uuid5(_JOB_NAMESPACE, f"{team_id}:{request_key}").hex


class Requester(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    user_name: str = ""
    team_id: str
    channel_id: str
    thread_ts: str | None = None


class ReplyTarget(BaseModel):
    """Who asked and where to answer: all the worker needs to tell the requester anything."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str = Field(min_length=8)
    command: str = ""
    text: str = ""
    requester: Requester
    response_url: str | None = None
    issued_at: datetime

    @property
    def short_id(self) -> str:
        return self.job_id[:8]

    @property
    def display(self) -> str:
        """The command as the person typed it."""
        return f"{self.command} {self.text}".strip()


class ProgressHandle(BaseModel):
    """Where a job's progress message is, so the next step updates it in place."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Messages sent through the response_url so far (Slack allows 5 within 30 minutes).
    response_url_uses: int = Field(default=0, ge=0)
    #: The channel message posted once the response_url is no longer usable (chat.update edits it).
    channel: str | None = None
    ts: str | None = None
    #: A digest of the last text sent, and when: an unchanged progress message is not sent again soon.
    last_digest: str | None = None
    sent_at: datetime | None = None


class Continuation(BaseModel):
    """The state a waiting step left for the next one, carried in the job envelope (schema v2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The step to run next (the first step is 0 and never has a continuation).
    step: int = Field(ge=1)
    #: The operation's own state (JSON), e.g. the CodeBuild build id it follows.
    state: dict[str, Any] = Field(default_factory=dict)
    #: When step 0 ran: elapsed time and the job's maximum age count from here.
    started_at: datetime
    progress: ProgressHandle = ProgressHandle()


class JobEnvelope(ReplyTarget):
    """Versioned job: who asked, what to run, where to answer, and where a long job is (v2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    args: JobArgs
    correlation_id: str
    continuation: Continuation | None = None
    #: The response_url belongs to a confirmation prompt: the job's first message replaces it.
    replace_original: bool = False
    #: Who confirmed the job at its prompt (None: no prompt).
    confirmed_by: str | None = None
    #: The second person who approved the job (two-person approval).
    approved_by: str | None = None
    #: How many times the worker put the job back on the queue itself after its last receive (a copy of it
    #: still held its run-once record, or the worker's store could not be reached): bounded.
    requeued: int = Field(default=0, ge=0)
    #: This copy is a successor, queued by a last receive in case its Lambda died: it queues none of its own, and
    #: its give-up tells the requester but leaves the dead-letter queue to the copy it follows (already there).
    successor: bool = False

    @model_validator(mode="after")
    def _continuation_needs_v2(self) -> Self:
        if self.continuation is not None and self.schema_version < CONTINUATION_SCHEMA_VERSION:
            raise ValueError(f"a continuation needs schema_version {CONTINUATION_SCHEMA_VERSION}")
        return self

    @property
    def step(self) -> int:
        return 0 if self.continuation is None else self.continuation.step

    def changed(self, **changes: Any) -> JobEnvelope:
        """A copy with `changes`, validated like an envelope from the queue (`model_copy` would skip that)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def continued(self, continuation: Continuation) -> JobEnvelope:
        """The same job, at its next step: a new copy, with receives, re-queues and a successor of its own."""
        return self.changed(
            continuation=continuation, schema_version=CONTINUATION_SCHEMA_VERSION, requeued=0, successor=False
        )

    @property
    def kind(self) -> str:
        return self.args.kind

    def to_message(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_message(cls, body: str) -> JobEnvelope:
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = "/".join(str(p) for p in err["loc"])
            raise JobFormatError(f"not a v1 job envelope, nor a v2 one: {where}: {err['msg']}") from None


def reply_target_of(body: str) -> ReplyTarget | None:
    """Who to tell about a message that is not a valid envelope, when enough of it is readable."""
    try:
        return ReplyTarget.model_validate_json(body)
    except ValidationError:
        return None


def utcnow() -> datetime:
    return datetime.now(UTC)


#: The audit trail's partition for commands that name no target.
NO_TARGET = "-"


def audit_target(job: JobEnvelope) -> str:
    """What the audit trail files a job under: its command's subject (an inventory name), `-` when it has none.
    Internal jobs (the ack's denial notes, settlements) carry their command's."""
    if isinstance(job.args, AuditNoteArgs | SettleArgs):
        return job.args.target or NO_TARGET
    spec = spec_for_kind(job.kind)
    if spec is None or spec.subject is None:
        return NO_TARGET
    return str(getattr(job.args, spec.subject, NO_TARGET))
