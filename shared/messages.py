"""What both functions say: wording the ack and the worker each send (policy denials, refused decisions,
approval requests). Each feature's own wording lives beside it; Slack's rules are in `shared.blockkit`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from shared.blockkit import SlackMessage, channel_mention, echo, escape, mention, simple
from shared.commands import CommandSpec


def command_list(specs: Iterable[CommandSpec]) -> str:
    return "\n".join(f"• `{escape(spec.usage)}`: {spec.summary}" for spec in specs)


def denied(display: str, rule: str | None, reason: str, ask: str) -> SlackMessage:
    """A policy denial: which rule refused, why, and who to ask (ephemeral: only the requester sees it). `ask`
    is the inventory's own mrkdwn (a mention of who to ask), written by the operators."""
    who = f"Ask {ask} for access." if ask else "Ask the owners of opsbot's policy for access."
    return simple(
        f":no_entry: {echo(display)} was denied by rule {echo(rule or 'unknown')}: {reason}. {who}",
        "Nothing was run.",
    )


def confirmation_refused(reason: str) -> SlackMessage:
    return simple(f":no_entry: That confirmation was not accepted: {escape(reason)}. Nothing was run.")


def decision_refused(action: Literal["approval", "rejection"], reason: str) -> SlackMessage:
    """To whoever clicked Approve or Reject on an approval request they may not decide: nothing was decided."""
    return simple(f":no_entry: That {action} was not accepted: {escape(reason)}. The request is still open.")


#: The words of `approval_requested` a client reads to know the request waits for someone else (the CLI's exit 5).
WAITING_FOR_APPROVAL = "needs a second person"


def approval_requested(display: str, channel: str, approvers: Sequence[str]) -> SlackMessage:
    who = ", ".join(mention(a) for a in approvers[:10]) + (" and others" if len(approvers) > 10 else "")
    return simple(
        f":hourglass_flowing_sand: {echo(display)} {WAITING_FOR_APPROVAL}: sent to {channel_mention(channel)} "
        f"for approval by {who}.",
        "Nothing runs until someone other than you approves; the request expires in 1h.",
    )
