"""End a confirmation prompt or an approval request as cancelled, rejected or expired, if nothing decided it
first; an expiry waits for its time first.

An expiry is queued with its prompt (by the ack for a confirmation prompt, by `approval_request` for an
approval) and comes back with SQS delays (at most 900 s each) until `not_before`; waiting shows nothing.
Then it claims the prompt's decision (`worker_function.store.decisions`): if a Confirm, an Approve or a Cancel got
there first, it does nothing, since that decision has told everyone. If it wins, the approvals channel's
message loses its buttons (chat.update), the decision is audited, and the requester is told: the
confirmation prompt is replaced through its response_url; the approval's requester gets it through the
response_url while it lasts (30 min), else in the channel (`SlackReplier`).

A rejection is first re-checked like an approval (`Approval.could_reject`, user groups resolved through the
Web API through the worker's cached `UserGroups`, `OperationContext.groups`): only the request's approvers,
as recorded with its message, and the requester (withdrawing it) may reject it. Anyone else is told so
ephemerally in the approvals channel, the refusal is audited as a denial, and nothing is decided: the
request keeps its buttons (`refuse_decision`, which the dispatcher uses for a refused Approve too).
"""

from __future__ import annotations

import logging
import math
from typing import Literal

from slack_sdk.errors import SlackApiError

from shared import messages
from shared.commands import SettleArgs
from shared.confirm import APPROVAL_TTL_S, CONFIRM_TTL_S
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from shared.policy import Approval
from worker_function.errors import GroupLookupError, PermanentJobError
from worker_function.operations import OperationContext, StepResult, StepState, Wait
from worker_function.outcomes import NothingToPost
from worker_function.store import DecisionStore
from worker_function.store.decisions import Decision

logger = logging.getLogger(__name__)


#: A settle job waits for its time with nothing to carry.
State = StepState


def run(args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    return _settle(args, job, ctx)


def resume(args: SettleArgs, job: JobEnvelope, ctx: OperationContext, state: StepState) -> StepResult:
    return _settle(args, job, ctx)


def _settle(args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    wait = args.not_before - ctx.now().timestamp()
    if wait > 0:
        return Wait(progress=NothingToPost(reason="the prompt's time has not come"), delay_s=math.ceil(wait))
    if ctx.decisions is None:
        raise PermanentJobError("no decision store to settle the prompt with")
    if args.outcome == "rejected" and args.approval and not _may_reject(args, job, ctx, ctx.decisions):
        return NothingToPost(reason="the rejection was refused, told to the clicker alone")
    decision = ctx.decisions.claim(args.prompt_id, args.outcome, args.by)
    if not decision.won:
        return NothingToPost(reason=f"the prompt was {decision.outcome} first")
    ttl_s = APPROVAL_TTL_S if args.approval else CONFIRM_TTL_S
    update_approval_message(ctx, decision, job, args.prompt_id, ttl_s)
    withdrawn = args.outcome == "rejected" and args.by == job.requester.user_id
    if ctx.audit is not None:
        detail = f"{args.outcome} by {args.by}" if args.by else f"nobody answered within {ttl_s} s"
        if withdrawn:
            detail = f"withdrawn by {args.by}, the requester"
        ctx.audit.record(job.changed(job_id=args.prompt_id), args.outcome, detail)
    if args.outcome == "cancelled":
        return messages.cancelled(job.display)
    if args.outcome == "rejected":
        return messages.approval_decided(job.display, False, args.by, args.prompt_id[:8], withdrawn=withdrawn)
    if args.approval:
        return messages.approval_expired(job.display, ttl_s)
    return messages.prompt_expired(job.display, ttl_s)


def _may_reject(args: SettleArgs, job: JobEnvelope, ctx: OperationContext, decisions: DecisionStore) -> bool:
    """The worker's check of a Reject, as of an Approve: the request's approvers (user groups resolved
    through the Web API, the worker's cache) or its requester. A refusal is audited and told to the clicker
    alone; then nothing is decided (the request keeps its buttons)."""
    request = decisions.get(args.prompt_id) or Decision(outcome="")
    if not request.approvers:
        logger.warning("approval request %s: no approvers recorded, only its requester may reject it", args.prompt_id)
    approval = Approval(approvers=list(request.approvers), channel=request.channel or "")
    try:
        admitted = approval.could_reject(args.by, job.requester.user_id, ctx.group_members)
    except GroupLookupError as exc:  # transient: told to the clicker alone, nothing decided or stored
        raise exc.clicked(args.by, "rejection", approval.channel) from None
    if admitted is True:
        return True
    refuse_decision(
        ctx, job, "rejection", by=args.by, prompt_id=args.prompt_id, channel=approval.channel, rule=request.rule
    )
    return False


def refuse_decision(
    ctx: OperationContext,
    job: JobEnvelope,
    action: Literal["approval", "rejection"],
    *,
    by: str,
    prompt_id: str,
    channel: str | None,
    rule: str | None,
) -> None:
    """An Approve or a Reject by someone who may not decide the approval request: logged, audited as a
    denial of the request, and told to the clicker alone (ephemeral, in the approvals channel). Nothing is
    decided, so nobody else hears of it and the request keeps its buttons."""
    reason = f"<@{by}> is not an approver of rule `{rule}`"
    logger.warning("%s of %s refused: %s", action, job.display, reason)
    if ctx.audit is not None:
        ctx.audit.record(job.changed(job_id=prompt_id), "denial", f"{action} refused: {reason}")
    tell_clicker(ctx, by, channel, messages.decision_refused(action, "you are not one of this request's approvers"))


def tell_clicker(ctx: OperationContext, user: str, channel: str | None, message: SlackMessage) -> None:
    """An ephemeral message to whoever clicked, in the approvals channel (best effort: nothing depends on it)."""
    if ctx.slack is None or not channel:
        logger.warning("cannot tell %s: no Slack client or approvals channel", user)
        return
    try:
        ctx.slack.chat_postEphemeral(channel=channel, user=user, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        logger.warning("could not tell %s in %s: %s", user, channel, exc.response.get("error"))


def update_approval_message(
    ctx: OperationContext, decision: Decision, job: JobEnvelope, prompt_id: str, ttl_s: int = APPROVAL_TTL_S
) -> None:
    """Show the decision on the approvals channel's message, without its buttons. Best effort: the decision
    stands whether or not Slack takes the edit (the ack refuses a late click anyway)."""
    if decision.channel is None or decision.ts is None or ctx.slack is None:
        return
    closed = messages.approval_closed(
        job.display, job.requester.user_id, decision.outcome, decision.by, prompt_id[:8], ttl_s
    )
    try:
        ctx.slack.chat_update(channel=decision.channel, ts=decision.ts, text=closed.text, blocks=closed.blocks)
    except SlackApiError as exc:
        logger.warning("could not update the approval message of %s: %s", prompt_id, exc.response.get("error"))
