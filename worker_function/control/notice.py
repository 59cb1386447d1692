"""A message the ack queued for the requester (it never calls Slack's Web API itself)."""

from __future__ import annotations

from shared.commands import NoticeArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.operations import OperationContext


def run(args: NoticeArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    return SlackMessage(text=args.text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": args.text}}])
