"""Prompts and approvals, for the executor and the settle handler alike: claim a decision, check and refuse a
clicker who may not decide, tell the clicker alone, show the decision on the approvals message.

A decision is claimed once per prompt (`store.decisions`): exactly one of confirmed / cancelled / approved /
rejected / expired wins. Someone who may not decide is told so ephemerally in the approvals channel, the
refusal is audited as a denial, and nothing is decided: the request keeps its buttons.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from slack_sdk.errors import SlackApiError

from shared import messages
from shared.blockkit import SlackMessage, echo, humanize_seconds, mention, section_block
from shared.commands import CommandSpec
from shared.confirm import APPROVAL_TTL_S
from shared.jobs import JobEnvelope
from shared.observability import job_log_keys
from shared.policy import Approval
from worker_function.errors import AlreadyDecidedError, GroupLookupError
from worker_function.operations import OperationContext
from worker_function.plan import HoldFacts
from worker_function.store import DecisionStore
from worker_function.store.decisions import Decision

logger = logging.getLogger(__name__)


def claim_approval(ctx: OperationContext, job: JobEnvelope, approver: str) -> None:
    """Decide the job's approval request as approved, or raise `AlreadyDecidedError` if it was decided
    otherwise (expired, rejected): then the job does not run. The approval shows on the request's message."""
    decision = ctx.decisions.claim(job.job_id, "approved", approver)
    if not decision.won:
        logger.warning("%s not run: its prompt was %s", job.display, decision.outcome, extra=job_log_keys(job))
        raise AlreadyDecidedError(decision.outcome, approval=True)
    update_approval_message(ctx, decision, job, job.job_id)


def may_reject(ctx: OperationContext, job: JobEnvelope, decisions: DecisionStore, *, prompt_id: str, by: str) -> bool:
    """The worker's check of a Reject, as of an Approve: the request's approvers (user groups resolved
    through the Web API, the worker's cache) or its requester. A refusal is audited and told to the clicker
    alone; then nothing is decided (the request keeps its buttons)."""
    request = decisions.get(prompt_id) or Decision(outcome="")
    if not request.approvers:
        logger.warning("approval request %s: no approvers recorded, only its requester may reject it", prompt_id)
    approval = Approval(approvers=list(request.approvers), channel=request.channel or "")
    try:
        admitted = approval.could_reject(by, job.requester.user_id, ctx.group_members)
    except GroupLookupError as exc:  # transient: told to the clicker alone, nothing decided or stored
        raise exc.clicked(by, "rejection", approval.channel) from None
    if admitted is True:
        return True
    refuse_decision(ctx, job, "rejection", by=by, prompt_id=prompt_id, channel=approval.channel, rule=request.rule)
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
    ctx.audit.record(job.changed(job_id=prompt_id), "denial", f"{action} refused: {reason}")
    tell_clicker(ctx, by, channel, messages.decision_refused(action, "you are not one of this request's approvers"))


def tell_clicker(ctx: OperationContext, user: str, channel: str | None, message: SlackMessage) -> None:
    """An ephemeral message to whoever clicked, in the approvals channel (best effort: nothing depends on it)."""
    if not channel:
        logger.warning("cannot tell %s: no approvals channel", user)
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
    if decision.channel is None or decision.ts is None:
        return
    closed = approval_closed(job.display, job.requester.user_id, decision.outcome, decision.by, prompt_id[:8], ttl_s)
    try:
        ctx.slack.chat_update(channel=decision.channel, ts=decision.ts, text=closed.text, blocks=closed.blocks)
    except SlackApiError as exc:
        logger.warning("could not update the approval message of %s: %s", prompt_id, exc.response.get("error"))


def hold_facts(ctx: OperationContext, spec: CommandSpec, args: Any, user: str) -> HoldFacts | None:
    """A mutating command's target lock and environment freeze (one read), and whether `override_freeze` admits
    `user` when a freeze is there (user groups resolved): what its first step, or its prompt, is refused by."""
    target = spec.target_of(args)
    if target is None:
        return None
    environment = ctx.inventory.environment_of(spec.accepts, target) if spec.accepts else None
    lock, freeze = ctx.holds.facts(target, environment)
    rule = ctx.inventory.policy.override_freeze
    override = None
    if freeze is not None and rule is not None:
        override = rule.admits(user, environment, ctx.group_members) is True
    return HoldFacts(lock=lock, freeze=freeze, override=override)


_CLOSED = {
    "approved": ":white_check_mark: {who}'s {display} was approved by {by}: running as job `{short_id}`.",
    "rejected": ":x: {who}'s {display} was rejected by {by}. Nothing was run.",
    "withdrawn": ":leftwards_arrow_with_hook: {who} withdrew their {display}. Nothing was run.",
    "expired": ":hourglass: {who}'s {display} expired: nobody approved it within {ttl}. Nothing was run.",
    # /ops-cancel of a request still waiting for its approval (worker_function/operations/cancel.py).
    "cancelled": ":heavy_multiplication_x: {who}'s {display} was cancelled by {by}. Nothing was run.",
}


def approval_closed(display: str, requester: str, outcome: str, by: str, short_id: str, ttl_s: int) -> SlackMessage:
    """The approvals channel's message once decided: what happened, and no buttons left to click. A rejection
    by the requester is their withdrawing it."""
    if outcome == "rejected" and by == requester:
        outcome = "withdrawn"
    text = _CLOSED[outcome].format(
        who=mention(requester), display=echo(display), by=mention(by), short_id=short_id, ttl=humanize_seconds(ttl_s)
    )
    return SlackMessage(text=text, blocks=[section_block(text)], response_type="in_channel")
