"""The ack's decisions, as plain functions: a Slack request in, a job queued and a reply out."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared import messages
from shared.commands import COMMANDS, NoticeArgs, find_command
from shared.errors import EnqueueError, UsageError
from shared.jobs import JobEnvelope, Requester, job_id_for, utcnow
from shared.messages import SlackMessage
from shared.queue import JobQueue

logger = logging.getLogger(__name__)


class SlashCommand(BaseModel):
    """The fields of Slack's slash-command payload that opsbot uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command: str
    text: str = ""
    team_id: str
    user_id: str
    user_name: str = ""
    channel_id: str
    response_url: str | None = None
    trigger_id: str | None = None


class MentionEvent(BaseModel):
    """An Events API `app_mention` callback: `@opsbot deploy-status payment`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    team_id: str
    event_id: str
    user: str
    channel: str
    text: str
    ts: str
    thread_ts: str | None = None


def plan_job(
    name: str, text: str, requester: Requester, *, job_id: str, response_url: str | None, now: datetime
) -> JobEnvelope | SlackMessage:
    """The job a command asks for, or the message explaining why there is none."""
    spec = find_command(name)
    if spec is None:
        return messages.unknown_command(name, COMMANDS)
    try:
        args = spec.parse(text)
    except UsageError as exc:
        return messages.usage_help(spec, str(exc))
    return JobEnvelope(
        job_id=job_id,
        command=spec.name,
        text=text.strip(),
        args=args,
        requester=requester,
        response_url=response_url,
        issued_at=now,
        correlation_id=job_id,
    )


def accept_command(cmd: SlashCommand, queue: JobQueue, *, now: Callable[[], datetime] = utcnow) -> SlackMessage:
    """Validate the command into a job and queue it. Never claims "queued" unless SQS took it."""
    requester = Requester(user_id=cmd.user_id, user_name=cmd.user_name, team_id=cmd.team_id, channel_id=cmd.channel_id)
    job_id = job_id_for(cmd.team_id, cmd.trigger_id)
    job = plan_job(cmd.command, cmd.text, requester, job_id=job_id, response_url=cmd.response_url, now=now())
    if isinstance(job, SlackMessage):
        return job
    try:
        queue.send(job)
    except EnqueueError as exc:
        logger.error("enqueue failed for job %s (%s): %s", job.job_id, job.display, exc)
        return messages.enqueue_failed(job.display)
    logger.info("queued job %s: %s by %s", job.job_id, job.display, cmd.user_id)
    return messages.queued(job.display, job.short_id)


_MENTION = re.compile(r"^\s*(<@[A-Z0-9]+>\s*)+")


def accept_mention(event: MentionEvent, queue: JobQueue, *, now: Callable[[], datetime] = utcnow) -> JobEnvelope:
    """Queue the job a mention asks for, answered in its thread. A mention that is no command queues a
    notice with the help text (the ack never calls the Web API). Raises `EnqueueError` so the edge
    answers non-2xx and Slack retries; the retry carries the same event_id, so it is the same job."""
    words = _MENTION.sub("", event.text).strip().split(maxsplit=1)
    name = "/" + words[0].lstrip("/") if words else ""
    text = words[1] if len(words) > 1 else ""
    requester = Requester(
        user_id=event.user, team_id=event.team_id, channel_id=event.channel, thread_ts=event.thread_ts or event.ts
    )
    job_id = job_id_for(event.team_id, event.event_id)
    planned = plan_job(name, text, requester, job_id=job_id, response_url=None, now=now())
    job = planned if isinstance(planned, JobEnvelope) else _notice(planned, name, requester, job_id, now())
    queue.send(job)
    logger.info("queued job %s from a mention: %s by %s", job.job_id, job.display, event.user)
    return job


def _notice(message: SlackMessage, name: str, requester: Requester, job_id: str, now: datetime) -> JobEnvelope:
    return JobEnvelope(
        job_id=job_id,
        command=name,
        args=NoticeArgs(text=message.text),
        requester=requester,
        issued_at=now,
        correlation_id=job_id,
    )
