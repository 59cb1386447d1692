"""A message the ack queued for the requester (it never calls Slack's Web API itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.commands import NoticeArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.effects import UNKNOWABLE, Unknowable
from worker_function.operations import OperationContext
from worker_function.outcomes import NothingToPost
from worker_function.store.intents import Intent


def run(args: NoticeArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage | NothingToPost:
    message = SlackMessage(text=args.text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": args.text}}])
    if not args.only_to_requester:
        return message
    intent = ctx.intent(job, "slack-ephemeral", f"tell {job.requester.user_id} alone")
    ctx.effect(TellAlone(ctx.slack, job, message, intent))
    return NothingToPost(reason="told the requester alone (chat.postEphemeral)")


@dataclass(frozen=True)
class TellAlone:
    """chat.postEphemeral where the requester wrote (in the thread of a mention). An ephemeral message leaves
    nothing the Web API can find again, so a retry after an unknown outcome does not send it twice: at most
    once, which for a notice is the safe side."""

    slack: Any
    job: JobEnvelope
    message: SlackMessage
    intent: Intent

    def call(self, intent: Intent) -> bool:
        requester = self.job.requester
        self.slack.chat_postEphemeral(
            channel=requester.channel_id,
            user=requester.user_id,
            thread_ts=requester.thread_ts,
            text=self.message.text,
            blocks=self.message.blocks,
        )
        return True

    def reconcile(self, intent: Intent) -> Unknowable:
        return UNKNOWABLE

    def assumed(self, intent: Intent) -> bool:
        return False
