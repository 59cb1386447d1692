"""The job envelope that travels from the ack function to the worker through SQS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.commands import JobArgs
from shared.errors import JobFormatError

SCHEMA_VERSION: Literal[1] = 1

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


class JobEnvelope(ReplyTarget):
    """Versioned job: who asked, what to run, where to answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    args: JobArgs
    correlation_id: str

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
            raise JobFormatError(f"not a v{SCHEMA_VERSION} job envelope: {where}: {err['msg']}") from None


def reply_target_of(body: str) -> ReplyTarget | None:
    """Who to tell about a message that is not a valid envelope, when enough of it is readable."""
    try:
        return ReplyTarget.model_validate_json(body)
    except ValidationError:
        return None


def utcnow() -> datetime:
    return datetime.now(UTC)
