"""A message the ack queued for the requester (it never calls Slack's Web API itself)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from shared.blockkit import SlackMessage
from shared.commands import NoticeArgs
from shared.jobs import JobEnvelope
from worker_function.effects import UNKNOWABLE, Unknowable
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)


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


def _updated(ctx: OperationContext, channel: str, ts: str, message: SlackMessage) -> bool:
    """chat.update of the job's channel message (the same text again on a retry changes nothing); False when
    Slack will not (the message is gone): the notice is then posted anew."""
    try:
        ctx.slack.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        logger.warning("could not update message %s in %s: %s", ts, channel, exc.response.get("error"))
        return False
    return True


class NoticeOperation:
    """The operation of `notice` (see the module's docstring)."""

    effects = (TellAlone,)
    permissions: tuple[Grant, ...] = ()

    def run(self, args: NoticeArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage | NothingToPost:
        message = SlackMessage(
            text=args.text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": args.text}}]
        )
        if args.update_channel and args.update_ts and _updated(ctx, args.update_channel, args.update_ts, message):
            return NothingToPost(reason="the job's own message was updated (chat.update)")
        if not args.only_to_requester:
            return message
        intent = ctx.intent(job, "slack-ephemeral", f"tell {job.requester.user_id} alone")
        ctx.effect(TellAlone(ctx.slack, job, message, intent))
        return NothingToPost(reason="told the requester alone (chat.postEphemeral)")


OPERATION: Operation[NoticeArgs] = NoticeOperation()
