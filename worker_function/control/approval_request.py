"""Two-person approval: post the request in the approvals channel (Approve / Reject); the ack told the requester.

Its expiry is queued first (a `settle` job that waits an hour): if posting fails and is retried, the
expiry is the same job again (same id), run once. The post is a side effect without a client token: it is posted
once (`_post_once`: an intent first; a retry looks for the request by its first block's id before posting again).
Where the message is goes in the request's decision record, so the approval, the rejection or the expiry can edit
it, with its approvers, against which a rejection is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.blockkit import SlackMessage, button, echo, mention, section_block
from shared.commands import ApprovalRequestArgs
from shared.confirm import APPROVAL_TTL_S, settlement
from shared.jobs import JobEnvelope
from worker_function import tracking
from worker_function.control._post_once import post_prompt_once
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost

logger = logging.getLogger(__name__)


class ApprovalRequestOperation:
    """The operation of `approval_request` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: ApprovalRequestArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
        prompt_id = args.job_id or job.job_id
        expiry = settlement(job.changed(job_id=prompt_id), "expired", approval=True, target=args.target)
        ctx.queue.send(expiry, delay_seconds=min(APPROVAL_TTL_S, ctx.settings.max_delay_s, 900))
        # The job waits for its approval: in the registry, with its expiry (what a cancel settles it with).
        waiting = tracking.record_of(expiry, "waiting", job_id=prompt_id, waiting_for="approval", lease=False)
        tracking.track(ctx.jobs, waiting, first=True)
        prompt = approval_prompt(
            job.display,
            job.requester.user_id,
            args.approvers,
            args.rule,
            args.token,
            args.reject_token,
            marker=marker_for(prompt_id),
        )
        channel, ts = post_prompt_once(ctx, job, "approval-post", args.channel, prompt, marker_for(prompt_id))
        try:
            ctx.decisions.open(prompt_id, channel, ts, approvers=args.approvers, rule=args.rule)
        except Exception:  # not worth a second post: the decisions stand, only the message keeps its buttons
            logger.exception("could not record where the approval request of %s is", job.display)
        # The ack already told the requester where the request went (`messages.approval_requested`): once is enough.
        return NothingToPost(reason=f"approval request posted in {args.channel}")


OPERATION: Operation[ApprovalRequestArgs] = ApprovalRequestOperation()


def marker_for(prompt_id: str) -> str:
    """The first block id of an approval request: how a retry finds it in the approvals channel."""
    return f"opsbot_approval_request_{prompt_id[:64]}"


def approval_prompt(
    display: str,
    requester: str,
    approvers: Sequence[str],
    rule: str,
    approve_token: str,
    reject_token: str,
    *,
    marker: str | None = None,
) -> SlackMessage:
    """The approvals channel's message: who asks for what, Approve / Reject (each button carries its own
    sealed token; neither reveals the job nor its response_url). `marker`: its first block's id."""
    who = ", ".join(mention(a) for a in approvers[:10]) + (" and others" if len(approvers) > 10 else "")
    text = (
        f":raised_hand: {mention(requester)} asks to run {echo(display)} (rule {echo(rule)}). "
        f"Approver: {who}, not the requester (who may withdraw it with Reject)."
    )
    buttons = [
        button("opsbot_approve", "Approve", approve_token, "primary"),
        button("opsbot_reject", "Reject", reject_token, "danger"),
    ]
    return SlackMessage(
        text=text,
        blocks=[
            {**section_block(text), **({"block_id": marker} if marker else {})},
            {"type": "actions", "block_id": "opsbot_approval", "elements": buttons},
        ],
        response_type="in_channel",
    )
