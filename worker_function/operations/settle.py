"""End a confirmation prompt or an approval request as cancelled, rejected or expired, if nothing decided it
first; an expiry waits for its time first.

An expiry is queued with its prompt (by the ack for a confirmation prompt, by `approval_request` for an
approval) and comes back with SQS delays (at most 900 s each) until `not_before`; waiting shows nothing.
Then it claims the prompt's decision (`worker_function.decisions`): if a Confirm, an Approve or a Cancel got
there first, it does nothing, since that decision has told everyone. If it wins, the approvals channel's
message loses its buttons (chat.update), the decision is audited, and the requester is told: the
confirmation prompt is replaced through its response_url; the approval's requester gets it through the
response_url while it lasts (30 min), else in the channel (`SlackReplier`).
"""

from __future__ import annotations

import logging
import math

from slack_sdk.errors import SlackApiError

from shared import messages
from shared.commands import SettleArgs
from shared.confirm import APPROVAL_TTL_S, CONFIRM_TTL_S
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.decisions import Decision
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext, StepResult, Wait

logger = logging.getLogger(__name__)

#: Nothing to show: a waiting expiry, or a prompt something else decided.
QUIET = SlackMessage(text="")


def run(args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    return _settle(args, job, ctx)


def resume(args: SettleArgs, job: JobEnvelope, ctx: OperationContext, state: dict[str, object]) -> StepResult:
    return _settle(args, job, ctx)


def _settle(args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    wait = args.not_before - ctx.now().timestamp()
    if wait > 0:
        return Wait(progress=QUIET, delay_s=math.ceil(wait))
    if ctx.decisions is None:
        raise PermanentJobError("no decision store to settle the prompt with")
    decision = ctx.decisions.claim(args.prompt_id, args.outcome, args.by)
    if not decision.won:
        return QUIET
    ttl_s = APPROVAL_TTL_S if args.approval else CONFIRM_TTL_S
    update_approval_message(ctx, decision, job, args.prompt_id, ttl_s)
    if ctx.audit is not None:
        detail = f"{args.outcome} by {args.by}" if args.by else f"nobody answered within {ttl_s} s"
        ctx.audit.record(job.model_copy(update={"job_id": args.prompt_id}), args.outcome, detail)
    if args.outcome == "cancelled":
        return messages.cancelled(job.display)
    if args.outcome == "rejected":
        return messages.approval_decided(job.display, False, args.by, args.prompt_id[:8])
    if args.approval:
        return messages.approval_expired(job.display, ttl_s)
    return messages.prompt_expired(job.display, ttl_s)


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
