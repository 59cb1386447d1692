"""What the ack sends: a job onto the queue (bounded by the queue's deadline, counted and logged), and the
answers a `Route` asks for (a denial with its audit note, an approval request, a confirmation prompt).

The ack never calls the Web API: anything the worker must post (an approval request, a prompt's expiry, an
answer to a click) travels as a queued job.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from ack_function import replies
from ack_function.route import Answer, AskApproval, Confirm, Deny
from shared import messages
from shared.blockkit import (
    SlackMessage,
    button,
    clip,
    context_block,
    echo,
    escape,
    fallback_text,
    humanize_seconds,
    section_block,
)
from shared.commands import ApprovalRequestArgs, AuditNoteArgs, NoticeArgs
from shared.confirm import CANCEL_ACTION, CONFIRM_ACTION, CONFIRM_TTL_S, seal, settlement
from shared.errors import ConfirmationError, EnqueueError
from shared.jobs import JobEnvelope, Requester, audit_target, job_id_for
from shared.observability import ENQUEUE_FAILURES, JOBS_QUEUED, function_metrics, job_log_keys
from shared.queue import JobQueue

logger = logging.getLogger(__name__)
metrics = function_metrics("opsbot-ack")


def send(queue: JobQueue, job: JobEnvelope) -> JobEnvelope:
    """Queue the job, logging and counting the outcome under its correlation id; `EnqueueError` when SQS did not
    take it in time."""
    log_keys = job_log_keys(job)
    try:
        queue.send(job)
    except EnqueueError as exc:
        metrics.add_metric(name=ENQUEUE_FAILURES, unit=MetricUnit.Count, value=1)
        logger.error("enqueue failed: %s: %s", job.display, exc, extra=log_keys)
        raise
    metrics.add_metric(name=JOBS_QUEUED, unit=MetricUnit.Count, value=1)
    logger.info("queued %s for %s", job.display, job.requester.user_id, extra=log_keys)
    return job


def notice(
    message: SlackMessage,
    name: str,
    requester: Requester,
    job_id: str,
    now: datetime,
    *,
    only_to_requester: bool = False,
) -> JobEnvelope:
    """A job that only posts `message` (the answer to a request whose own answer Slack does not show)."""
    return JobEnvelope(
        job_id=job_id,
        command=name,
        args=NoticeArgs(text=clip(message.text, 3000), only_to_requester=only_to_requester),
        requester=requester,
        issued_at=now,
        correlation_id=job_id,
    )


def answer(decided: Answer | Deny | AskApproval | Confirm, queue: JobQueue, *, signing_secret: str) -> SlackMessage:
    """Carry out a route that queues no job of its own: what to tell the requester."""
    if isinstance(decided, AskApproval):
        return request_approval(queue, decided, signing_secret)
    if isinstance(decided, Confirm):
        return prompt(queue, decided, signing_secret)
    return tell(decided, queue)


def tell(decided: Answer | Deny, queue: JobQueue) -> SlackMessage:
    """The answer of a request that goes no further (a denial's note queued for the audit trail)."""
    if isinstance(decided, Deny):
        logger.info("denied %s for %s by rule %s", decided.job.display, decided.job.requester.user_id, decided.rule)
        record_denial(queue, decided.job, decided.message)
    return decided.message


def record_denial(queue: JobQueue, job: JobEnvelope, denial: SlackMessage) -> None:
    """The ack cannot write the audit trail (no DynamoDB): its denial travels to the worker, which records
    it. Best effort: the requester's answer does not wait on it."""
    note = job.changed(args=AuditNoteArgs(target=audit_target(job), detail=denial.text[:500]), response_url=None)
    try:
        queue.send(note)
    except EnqueueError as exc:
        logger.error("the denial of %s could not be queued for the audit trail: %s", job.display, exc)


def request_approval(queue: JobQueue, asked: AskApproval, signing_secret: str) -> SlackMessage:
    """Two-person approval: the worker posts the request in the approvals channel (the ack never calls the
    Web API); the job rides sealed in its buttons."""
    job, approval = asked.job, asked.approval
    try:
        token, reject_token = seal(job, signing_secret, "approve"), seal(job, signing_secret, "reject")
    except ConfirmationError as exc:
        return messages.confirmation_refused(str(exc))
    request = job.changed(
        job_id=job_id_for(job.requester.team_id, f"approval:{job.job_id}"),
        args=ApprovalRequestArgs(
            token=token,
            reject_token=reject_token,
            approvers=approval.approvers,
            channel=approval.channel,
            rule=asked.rule,
            job_id=job.job_id,
            target=audit_target(job),
        ),
    )
    try:
        send(queue, request)
    except EnqueueError:
        return replies.enqueue_failed(job.display)
    return messages.approval_requested(job.display, approval.channel, approval.approvers)


def prompt(queue: JobQueue, asked: Confirm, signing_secret: str) -> SlackMessage:
    """The confirmation prompt, its expiry queued with it; the job rides in its Confirm button, sealed with
    the signing secret."""
    job = asked.job
    try:
        confirm_token, cancel_token = seal(job, signing_secret, "confirm"), seal(job, signing_secret, "cancel")
    except ConfirmationError as exc:
        return messages.confirmation_refused(str(exc))
    logger.info("asking %s to confirm %s", job.requester.user_id, job.display, extra=job_log_keys(job))
    schedule_expiry(queue, job)
    return confirm_prompt(
        job.display,
        asked.description,
        asked.environment,
        confirm_token,
        cancel_token,
        CONFIRM_TTL_S,
        CONFIRM_ACTION,
        CANCEL_ACTION,
    )


def schedule_expiry(queue: JobQueue, job: JobEnvelope) -> None:
    """Queue the expiry of a confirmation prompt with it (the worker replaces the prompt unless it was confirmed
    or cancelled first). Best effort: the prompt is shown anyway, and a late click is refused by `unseal`."""
    try:
        queue.send(settlement(job, "expired", target=audit_target(job)))
    except EnqueueError as exc:
        logger.error("the expiry of the prompt for %s could not be queued: %s", job.display, exc)


def confirm_prompt(
    display: str,
    description: str,
    environment: str | None,
    confirm_token: str,
    cancel_token: str,
    ttl_s: int,
    confirm_id: str,
    cancel_id: str,
) -> SlackMessage:
    """The ephemeral prompt of a command that needs confirming: what will run, on what, Confirm / Cancel (each
    button carries its own token, good for that purpose only)."""
    where = f" on *{escape(environment)}*" if environment else ""
    command, cut = whole_command(display)
    text = f":warning: Run {command}{where}? {description}"
    actions = {
        "type": "actions",
        "block_id": "opsbot_confirm",
        "elements": [
            button(confirm_id, "Confirm", confirm_token, "danger"),
            button(cancel_id, "Cancel", cancel_token),
        ],
    }
    footer = context_block(
        f"Only you can confirm; this prompt expires in {humanize_seconds(ttl_s)}. Nothing runs until then.",
        *([cut] if cut else []),
    )
    return SlackMessage(text=fallback_text(text), blocks=[section_block(text), actions, footer])


#: A command shown for confirming is shown whole up to this long; a longer one keeps its start and its end.
MAX_CONFIRMED_COMMAND = 1200


_CONFIRMED_TAIL = 200


def whole_command(display: str) -> tuple[str, str]:
    """The command as a code span, whole (what is confirmed is what runs); past `MAX_CONFIRMED_COMMAND`
    characters its start and its end (where a revision or a count is) with the cut said, never silently."""
    flat = " ".join(display.split())
    if len(flat) <= MAX_CONFIRMED_COMMAND:
        return echo(flat, MAX_CONFIRMED_COMMAND), ""
    head = flat[: MAX_CONFIRMED_COMMAND - _CONFIRMED_TAIL - 1]
    tail = flat[-_CONFIRMED_TAIL:]
    left_out = len(flat) - len(head) - len(tail)
    shown = f"{echo(head, len(head))} … {echo(tail, len(tail))}"
    return shown, f"The command is {len(flat)} characters long: {left_out} in its middle are not shown here."
