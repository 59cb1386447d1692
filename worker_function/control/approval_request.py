"""Two-person approval: post the request in the approvals channel (Approve / Reject); the ack told the requester.

Its expiry is queued first (a `settle` job that waits an hour): if posting fails and is retried, the
expiry is the same job again (same id), run once. The post is a side effect without a client token: an intent is
written first, and a retry that finds it looks for the request (its first block's id, `slack_history`) in the
approvals channel before posting again. Where the message is goes in the request's decision
record, so the approval, the rejection or the expiry can edit it, with its approvers, against which a
rejection is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from shared.blockkit import SlackMessage, button, echo, mention, section_block
from shared.commands import ApprovalRequestArgs
from shared.confirm import APPROVAL_TTL_S, settlement
from shared.jobs import JobEnvelope
from worker_function import tracking
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost
from worker_function.slack_history import find_own, first_block_is
from worker_function.store.intents import Intent

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
        channel, ts = args.channel, None
        if ctx.intents.write(Intent(job_id=job.job_id, step=job.step, name="approval-post")) is not None:
            # An earlier attempt may have posted it (Slack took it, its answer was lost): looked for first.
            found = find_own(ctx.slack, args.channel, first_block_is(marker_for(prompt_id)))
            ts = found.ts
            if ts is None and not found.certain_absent:
                logger.warning("%s: an earlier approval request may be in %s: posted again", job.display, channel)
        if ts is None:
            posted = _post(ctx, job, args.channel, prompt)
            channel, ts = str(posted.get("channel") or args.channel), str(posted["ts"])
        try:
            ctx.decisions.open(prompt_id, channel, ts, approvers=args.approvers, rule=args.rule)
        except Exception:  # not worth a second post: the decisions stand, only the message keeps its buttons
            logger.exception("could not record where the approval request of %s is", job.display)
        # The ack already told the requester where the request went (`messages.approval_requested`): once is enough.
        return NothingToPost(reason=f"approval request posted in {args.channel}")


OPERATION: Operation[ApprovalRequestArgs] = ApprovalRequestOperation()


def _post(ctx: OperationContext, job: JobEnvelope, channel: str, prompt: SlackMessage) -> Any:
    """chat.postMessage; an answer saying no (a 4xx, a 429) posted nothing, so the intent goes: the retry posts
    without looking (a 5xx may have posted it: the intent stays)."""
    from slack_sdk.errors import SlackApiError

    try:
        return ctx.slack.chat_postMessage(channel=channel, text=prompt.text, blocks=prompt.blocks)
    except SlackApiError as exc:
        if exc.response.status_code < 500:
            try:
                ctx.intents.forget(Intent(job_id=job.job_id, step=job.step, name="approval-post"))
            except Exception:  # the retry then looks before posting: a call more, nothing twice
                logger.exception("the approval request's intent of %s could not be removed", job.display)
        raise


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
