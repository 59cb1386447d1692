"""Two-person approval: post the request in the approvals channel (Approve / Reject), tell the requester."""

from __future__ import annotations

from shared import messages
from shared.commands import ApprovalRequestArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext


def run(args: ApprovalRequestArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    if ctx.slack is None:
        raise PermanentJobError("no Slack client to post the approval request with")
    prompt = messages.approval_prompt(job.display, job.requester.user_id, args.approvers, args.rule, args.token)
    ctx.slack.chat_postMessage(channel=args.channel, text=prompt.text, blocks=prompt.blocks)
    return messages.approval_requested(job.display, args.channel, args.approvers)
