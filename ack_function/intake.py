"""The ack's decision, as a plain function: a slash command in, a reply out (and maybe a job queued)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared import messages
from shared.commands import COMMANDS, find_command
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


def accept_command(
    cmd: SlashCommand, queue: JobQueue, *, now: Callable[[], datetime] = utcnow
) -> SlackMessage:
    """Validate the command into a job and queue it. Never claims "queued" unless SQS took it."""
    spec = find_command(cmd.command)
    if spec is None:
        return messages.unknown_command(cmd.command, COMMANDS)
    try:
        args = spec.parse(cmd.text)
    except UsageError as exc:
        return messages.usage_help(spec, str(exc))
    job_id = job_id_for(cmd.team_id, cmd.trigger_id)
    job = JobEnvelope(
        job_id=job_id,
        command=spec.name,
        text=cmd.text.strip(),
        args=args,  # type: ignore[arg-type]  # spec.parse returns the spec's member of JobArgs
        requester=Requester(
            user_id=cmd.user_id, user_name=cmd.user_name, team_id=cmd.team_id, channel_id=cmd.channel_id
        ),
        response_url=cmd.response_url,
        issued_at=now(),
        correlation_id=job_id,
    )
    try:
        queue.send(job)
    except EnqueueError as exc:
        logger.error("enqueue failed for job %s (%s): %s", job.job_id, job.display, exc)
        return messages.enqueue_failed(job.display)
    logger.info("queued job %s: %s by %s", job.job_id, job.display, cmd.user_id)
    return messages.queued(job.display, job.short_id)
