"""The prompt buttons: Confirm / Cancel under a confirmation prompt, Approve / Reject in the approvals channel.

Slack ignores the HTTP body of a `block_actions` answer, and the ack never calls the Web API nor a response_url
itself: what the clicker sees next travels with a queued job whose first message answers through the click's
response_url. Each raises `EnqueueError` when nothing could be queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from ack_function import replies
from ack_function.outbox import notice, send
from ack_function.payloads import ActionClick
from shared import messages
from shared.blockkit import SlackMessage, escape, simple
from shared.confirm import CONFIRM_ACTION, PURPOSE_OF_ACTION, REJECT_ACTION, Purpose, settlement, unseal
from shared.errors import ConfirmationError
from shared.guard import check
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester, audit_target, job_id_for, utcnow
from shared.observability import job_log_keys
from shared.queue import JobQueue

logger = logging.getLogger(__name__)


def accept_click(
    click: ActionClick, queue: JobQueue, *, signing_secret: str, now: Callable[[], datetime] = utcnow
) -> JobEnvelope:
    """A Confirm or Cancel click: the confirmed job, a `settle` job for a cancel, or a notice for a refusal is
    queued, and its first message replaces the prompt ("queued", "cancelled" or why not)."""
    clicked_at = now()
    decided = decide_click(click, signing_secret, now=clicked_at)
    if isinstance(decided, SlackMessage):
        requester = Requester(user_id=click.user_id, team_id=click.team_id, channel_id=click.channel_id)
        notice_id = job_id_for(click.team_id, click.trigger_id)
        decided = notice(decided, "notice", requester, notice_id, clicked_at)
    return send(queue, decided.changed(response_url=click.response_url, replace_original=True))


def decide_click(click: ActionClick, signing_secret: str, *, now: datetime) -> JobEnvelope | SlackMessage:
    """The confirmed job, the cancellation (a `settle` job), or what to tell the clicker instead (altered,
    expired, for another button, not theirs). Only the requester may confirm or cancel."""
    cancel = click.action_id != CONFIRM_ACTION
    purpose = PURPOSE_OF_ACTION.get(click.action_id, "cancel")
    try:
        job = unseal(click.value, signing_secret, purpose, now=now, team_id=click.team_id)
    except ConfirmationError as exc:
        logger.warning("%s by %s refused: %s", click.action_id, click.user_id, exc)
        return cancel_refused(str(exc)) if cancel else messages.confirmation_refused(str(exc))
    if cancel:
        if job.requester.user_id != click.user_id:
            logger.warning("cancel of %s by %s refused: not the requester", job.display, click.user_id)
            return cancel_refused("only the person who asked can cancel")
        return settlement(job, "cancelled", click.user_id, target=audit_target(job))
    if job.requester.user_id != click.user_id:
        logger.warning("confirmation of %s by %s refused: not the requester", job.display, click.user_id)
        return messages.confirmation_refused("only the person who asked can confirm")
    logger.info("%s confirmed by %s", job.display, click.user_id, extra=job_log_keys(job))
    return job.changed(confirmed_by=click.user_id)


def accept_approval_click(
    click: ActionClick,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None,
    now: Callable[[], datetime] = utcnow,
) -> list[JobEnvelope]:
    """Approve or Reject in the approvals channel. Approve by someone other than the requester (and, as far
    as the ack's static lists tell, an approver) queues the job with `approved_by`; the worker re-checks the
    approver's group membership, decides the request (unless it was rejected or expired first) and edits the
    request's message before the job runs. Reject by an approver (as far as the static lists tell) or by the
    requester (withdrawing it) queues a `settle` job that does the same for a rejection, re-checking the
    rejecter's group membership, and tells the requester. A refused click is answered with a queued notice
    to the clicker alone; nothing is decided."""
    clicked_at = now()
    requester = Requester(user_id=click.user_id, team_id=click.team_id, channel_id=click.channel_id)
    notice_id = job_id_for(click.team_id, click.trigger_id)

    def refuse(message: SlackMessage, *, replace: bool = False) -> list[JobEnvelope]:
        told = notice(message, "notice", requester, notice_id, clicked_at)
        return [send(queue, told.changed(response_url=click.response_url, replace_original=replace))]

    purpose: Purpose = "reject" if click.action_id == REJECT_ACTION else "approve"
    try:
        job = unseal(click.value, signing_secret, purpose, now=clicked_at, team_id=click.team_id)
    except ConfirmationError as exc:
        logger.warning("%s by %s refused: %s", click.action_id, click.user_id, exc)
        return refuse(messages.confirmation_refused(str(exc)), replace=True)
    allowed_teams = inventory.intake.allowed_teams if inventory is not None else []
    if click.user_team not in (None, "", click.team_id, job.requester.team_id, *allowed_teams):
        logger.warning("%s by %s of another workspace (%s) refused", click.action_id, click.user_id, click.user_team)
        return refuse(replies.not_from_this_workspace())
    approval = check(job, inventory).approval if inventory is not None else None
    if click.action_id == REJECT_ACTION:
        if approval is not None and approval.could_reject(click.user_id, job.requester.user_id, _no_groups) is False:
            logger.info("rejection of %s by %s refused: not an approver", job.display, click.user_id)
            return refuse(rejection_refused("you are not one of this request's approvers"))
        logger.info("%s rejected by %s", job.display, click.user_id, extra=job_log_keys(job))
        rejection = settlement(job, "rejected", click.user_id, approval=True, target=audit_target(job))
        # One rejection job per person: a rejection the worker refuses (not in the approver group) must not
        # stand in, by its job id, for a later one by an approver.
        rejection_id = job_id_for(job.requester.team_id, f"rejected:{job.job_id}:{click.user_id}")
        return [send(queue, rejection.changed(job_id=rejection_id))]
    if click.user_id == job.requester.user_id:
        return refuse(messages.confirmation_refused("the requester cannot approve their own request"))
    if approval is not None and approval.could_approve(click.user_id, _no_groups) is False:
        return refuse(messages.confirmation_refused("you are not one of this request's approvers"))
    logger.info("%s approved by %s", job.display, click.user_id, extra=job_log_keys(job))
    return [send(queue, job.changed(approved_by=click.user_id))]


def _no_groups(group: str) -> frozenset[str] | None:
    """User-group members, as far as the ack knows: never (no Web API on the ack path)."""
    return None


def cancel_refused(reason: str) -> SlackMessage:
    """To whoever clicked Cancel on a prompt that is not theirs (or with a token that does not hold)."""
    return simple(f":no_entry: That cancellation was not accepted: {escape(reason)}. The prompt is unchanged.")


def rejection_refused(reason: str) -> SlackMessage:
    """To whoever clicked Reject on an approval request they may not decide: the request stays open."""
    return messages.decision_refused("rejection", reason)
