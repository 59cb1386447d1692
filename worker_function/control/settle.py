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
request keeps its buttons (`worker_function.prompts`, which the executor uses for an Approve too).
"""

from __future__ import annotations

import math
from typing import Any

from shared.blockkit import SlackMessage, echo, humanize_seconds, mention, simple
from shared.commands import SettleArgs, find_command
from shared.confirm import APPROVAL_TTL_S, CONFIRM_TTL_S
from shared.errors import UsageError
from shared.jobs import JobEnvelope
from worker_function import tracking
from worker_function.operations import OperationContext, StepResult, StepState, Wait
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.outcomes import NothingToPost, Said
from worker_function.plan import hold_refusal
from worker_function.prompts import hold_facts, may_reject, update_approval_message

#: A settle job waits for its time with nothing to carry.
State = StepState


def _settle(args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    wait = args.not_before - ctx.now().timestamp()
    if wait > 0:
        if job.step == 0 and args.outcome == "expired" and not args.approval:  # the prompt waits: registered
            refused = _held_back(args, job, ctx)
            if refused is not None:
                return refused
            waiting = tracking.record_of(job, "waiting", job_id=args.prompt_id, waiting_for="confirmation", lease=False)
            tracking.track(ctx.jobs, waiting, first=True)
        return Wait(progress=NothingToPost(reason="the prompt's time has not come"), delay_s=math.ceil(wait))
    rejecting = args.outcome == "rejected" and args.approval
    if rejecting and not may_reject(ctx, job, ctx.decisions, prompt_id=args.prompt_id, by=args.by):
        return NothingToPost(reason="the rejection was refused, told to the clicker alone")
    decision = ctx.decisions.claim(args.prompt_id, args.outcome, args.by)
    if not decision.won:
        return NothingToPost(reason=f"the prompt was {decision.outcome} first")
    ttl_s = APPROVAL_TTL_S if args.approval else CONFIRM_TTL_S
    update_approval_message(ctx, decision, job, args.prompt_id, ttl_s)
    withdrawn = args.outcome == "rejected" and args.by == job.requester.user_id
    detail = f"{args.outcome} by {args.by}" if args.by else f"nobody answered within {ttl_s} s"
    if withdrawn:
        detail = f"withdrawn by {args.by}, the requester"
    ctx.audit.record(job.changed(job_id=args.prompt_id), args.outcome, detail)
    tracking.end(ctx.jobs, args.prompt_id, "finished", f"{args.outcome} at its prompt: {detail}")
    return _answer(args, job, withdrawn, ttl_s).model_copy(update={"about_job": args.prompt_id})


def _answer(args: SettleArgs, job: JobEnvelope, withdrawn: bool, ttl_s: int) -> SlackMessage:
    """What the requester is told; its metadata names the prompt's job (the id of the audit), not this one."""
    if args.outcome == "cancelled":
        return cancelled(job.display)
    if args.outcome == "rejected":
        return approval_decided(job.display, False, args.by, args.prompt_id[:8], withdrawn=withdrawn)
    if args.approval:
        return approval_expired(job.display, ttl_s)
    return prompt_expired(job.display, ttl_s)


def _held_back(args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> Said | None:
    """A confirmation prompt shown on a locked target or in a frozen environment (the ack cannot read either):
    refused at once, before anyone clicks, by the expiry queued with it on its first look. The prompt's decision
    is claimed as refused (a Confirm arriving later is told so), the prompt replaced by the refusal, the denial
    audited. None when nothing holds it back, or something decided the prompt first."""
    spec = find_command(job.command)
    if spec is None or not spec.mutating:
        return None
    try:
        command_args = spec.parse(job.text)
    except UsageError:
        return None
    holds = hold_facts(ctx, spec, command_args, job.requester.user_id)
    refusal = hold_refusal(holds, ctx.now()) if holds is not None else None
    if refusal is None or not ctx.decisions.claim(args.prompt_id, "refused").won:
        return None
    prompt = job.changed(job_id=args.prompt_id)
    event, detail = refusal.audit or ("denial", str(refusal.error))
    ctx.audit.record(prompt, event, f"refused before its confirmation: {detail}")
    tracking.end(ctx.jobs, args.prompt_id, "finished", f"refused at its prompt: {detail}")
    told = refusal.error.to_message(prompt)
    return told.model_copy(update={"about_job": args.prompt_id}) if isinstance(told, SlackMessage) else told


class SettleOperation:
    """The operation of `settle` (see the module's docstring)."""

    state = State
    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: SettleArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        return _settle(args, job, ctx)

    def resume(self, args: SettleArgs, job: JobEnvelope, ctx: OperationContext, state: StepState) -> StepResult:
        return _settle(args, job, ctx)


OPERATION: Resumable[SettleArgs, Any] = SettleOperation()


def cancelled(display: str) -> SlackMessage:
    return simple(f":heavy_multiplication_x: {echo(display)} was cancelled. Nothing was run.")


def prompt_expired(display: str, ttl_s: int) -> SlackMessage:
    """Replaces a confirmation prompt nobody answered."""
    return simple(
        f":hourglass: The prompt to run {echo(display)} expired: nobody confirmed it within "
        f"{humanize_seconds(ttl_s)}. Nothing was run.",
        f"Run {echo(display)} again if you still want it.",
    )


def approval_expired(display: str, ttl_s: int) -> SlackMessage:
    """Tells the requester that nobody approved (nor rejected) the request in time."""
    return simple(
        f":hourglass: Your request to run {echo(display)} expired: nobody approved it within "
        f"{humanize_seconds(ttl_s)}. Nothing was run.",
        f"Run {echo(display)} again to ask anew.",
    )


def approval_decided(display: str, approved: bool, by: str, short_id: str, *, withdrawn: bool = False) -> SlackMessage:
    if approved:
        return simple(f":white_check_mark: {echo(display)} approved by {mention(by)}: running as job `{short_id}`.")
    if withdrawn:
        return simple(f":leftwards_arrow_with_hook: You withdrew {echo(display)}. Nothing was run.")
    return simple(f":x: {echo(display)} was rejected by {mention(by)}. Nothing was run.")
