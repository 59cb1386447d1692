"""`--dry-run` of a mutating command: what it would do, and nothing done.

The command's own operation previews itself (`preview(args, job, ctx) -> Preview`: the target's state from
read-only calls, and the change it would make); this module adds what the executor would decide around it:
where it would act (account, region), the policy's verdict with user groups resolved, whether a
confirmation or a second person's approval would be asked, whether a job holds the target's lease, and the
lock or freeze (`ctx.holds`) standing on it. No intent is written, no lease taken, no prompt or approval posted; the
dry run is audited as the target's `dry_run` event, with the verdict. A command the policy would refuse is
not read at all: a dry run shows no more of a target than its command would let the person see.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.blockkit import (
    SlackMessage,
    clip,
    context_block,
    echo,
    escape,
    fallback_text,
    mention,
    section_block,
    section_blocks,
    shorten,
)
from shared.commands import CommandSpec, DryRunArgs, spec_for_kind
from shared.confirm import CONFIRM_TTL_S
from shared.guard import check
from shared.holds import moment
from shared.inventory_entries import Target
from shared.jobs import JobEnvelope
from shared.policy import Decision
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext, Preview
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation, Previewable
from worker_function.operations.registry import operation_for

#: What a dry run shows as the change when the policy would refuse the command.
REFUSED_CHANGE = "nothing: the policy would refuse it (see the checks)"


def _preview(planned: JobEnvelope, ctx: OperationContext) -> Preview:
    """The operation's preview; one it cannot make (no such service, the role refused) says why instead."""
    operation = operation_for(planned.kind)
    if not isinstance(operation, Previewable):  # the registry refuses a mutating command without one
        raise PermanentJobError(f"{planned.command} has no dry run")
    try:
        preview: Preview = operation.preview(planned.args, planned, ctx)
    except PermanentJobError as exc:
        reason = escape(shorten(str(exc), 500))
        return Preview(now=[f":x: {reason}"], change="fail before changing anything (see below)")
    return preview


def where_lines(spec: CommandSpec, subject: str, ctx: OperationContext) -> list[str]:
    """Which AWS account and region the command would act in (a suite: the worker's own; Jenkins: none)."""
    if spec.accepts in (None, "jenkins_job"):
        return []
    own = f"In the worker's own account, region {escape(ctx.settings.aws_region)}"
    if spec.accepts == "suite":
        return [own]
    if spec.accepts == "runbook":  # its state machine's account: the worker's own, or the one it names
        account = ctx.inventory.runbooks[subject].account
        role = ctx.inventory.accounts[account].role_arn if account else None
        return [own] if role is None else [f"In account {role.split(':')[4]} as `{escape(role)}`"]
    target: Target = ctx.inventory.target(subject, spec.accepts)
    region = target.region or ctx.settings.aws_region
    if target.role_arn is None:
        return [f"In the worker's own account, region {escape(region)}"]
    return [f"In account {target.role_arn.split(':')[4]} as `{escape(target.role_arn)}`, region {region}"]


def policy_line(decision: Decision, contact: str) -> str:
    """Which rule admits the command, or would refuse it and whom to ask."""
    rule = echo(decision.rule or "")
    if decision.allowed is True:
        return (
            f":white_check_mark: Allowed by rule {rule}"
            if decision.rule
            else ":white_check_mark: Allowed: no rule applies"
        )
    if decision.allowed is None:
        return f":grey_question: Rule {rule} admits only user groups Slack would not list now: decided when run"
    ask = decision.ask or contact
    return f":no_entry: Would be refused by rule {rule}: {decision.reason}." + (f" Ask {ask}." if ask else "")


def prompt_lines(spec: CommandSpec, decision: Decision) -> list[str]:
    """Whether a confirmation prompt and a second person's approval would be asked."""
    approval = decision.approval if decision.allowed is not False else None
    if approval is not None:
        who = ", ".join(mention(a) for a in approval.approvers[:10])
        channel = f"<#{approval.channel}>"
        lines = [f":busts_in_silhouette: Would need the approval of a second person ({who}) in {channel}"]
    elif spec.confirm:
        lines = [f":raised_hand: Would ask you to confirm first (Confirm / Cancel, within {CONFIRM_TTL_S // 60} min)"]
    else:
        lines = ["No confirmation asked"]
    return lines


def hold_lines(spec: CommandSpec, planned: JobEnvelope, ctx: OperationContext) -> list[str]:
    """Whether a job holds the target's lease (read, never taken), and the lock or freeze standing on it."""
    name = spec.target_of(planned.args)
    if name is None:
        return []
    subject = str(getattr(planned.args, spec.subject)) if spec.subject else name
    environment = ctx.inventory.environment_of(spec.accepts, subject) if spec.accepts else None
    lock, freeze = ctx.holds.facts(name, environment)
    lease = ctx.leases.holder(name)
    if lock is not None:
        lines = [
            f":lock: Locked by {mention(lock.by)} since {moment(lock.since)}: "
            f"{escape(shorten(lock.reason, 300))}; it would be refused "
            f"(`/ops-unlock {escape(name)}` lifts it)"
        ]
    elif lease is not None and lease.lock is None and lease.expires_at > ctx.now().timestamp():
        lines = [
            f":lock: Locked: {echo(lease.command)} by {mention(lease.requester)} since "
            f"{lease.since_hhmm} (job `{escape(lease.owner_job[:8])}`): it would be refused as busy now"
        ]
    else:
        lines = [f":unlock: Not locked: no job holds {echo(name)}"]
    if freeze is not None:
        lines.append(
            f":snowflake: {echo(freeze.environment)} is frozen by {mention(freeze.by)} until "
            f"{moment(freeze.until)}: {escape(shorten(freeze.reason, 300))}; it would be refused "
            "unless the policy's `override_freeze` rule admits you"
        )
    return lines


def audit_detail(decision: Decision, checks: list[str]) -> str:
    """The dry run's verdict for the audit trail: allowed or refused by which rule, and whether locked."""
    verdict = {True: "allowed", False: "would be refused", None: "undecided"}[decision.allowed]
    detail = f"{verdict} by rule {decision.rule}" if decision.rule else verdict
    if any(line.startswith(":lock: Locked:") for line in checks):
        detail += "; locked by another job"
    elif any(line.startswith(":lock: Locked by") for line in checks):
        detail += "; locked"
    if any(line.startswith(":snowflake:") for line in checks):
        detail += "; frozen"
    return detail


class DryRunOperation:
    """The operation of `dry_run` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: DryRunArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        spec = spec_for_kind(args.of.kind)
        if spec is None or not spec.mutating:
            raise PermanentJobError(f"{job.command} changes nothing: it has no dry run")
        planned = job.changed(args=args.of)  # the job as the command itself would run
        subject = str(getattr(args.of, spec.subject)) if spec.subject else ""
        if spec.accepts is not None:
            ctx.inventory.require(spec.accepts, subject)
        decision = check(planned, ctx.inventory, ctx.group_members)
        checks = [policy_line(decision, ctx.inventory.policy.contact), *prompt_lines(spec, decision)]
        checks += hold_lines(spec, planned, ctx)
        if decision.allowed is True:
            preview = _preview(planned, ctx)
            now = [*where_lines(spec, subject, ctx), *preview.now]
        else:
            preview = Preview(change=REFUSED_CHANGE)
            now = ["_Not read: the policy would refuse you this command._"]
        ctx.audit.record(planned, "dry_run", audit_detail(decision, checks))
        return dry_run(job.display, job.short_id, preview.change, now, checks)


OPERATION: Operation[DryRunArgs] = DryRunOperation()


#: A dry run shows at most this many lines of the target's state (the operation's), then how many more.
DRY_RUN_STATE_LINES = 20


def dry_run(display: str, short_id: str, change: str, now: Sequence[str], checks: Sequence[str]) -> SlackMessage:
    """What a mutating command would do (`--dry-run`): the planned change, the target's state now and the checks
    it would meet (policy rule, confirmation, approval, lease, holds). `change`, `now` and `checks` are opsbot's
    mrkdwn (the worker escapes what comes from elsewhere); each part is bounded here."""
    headline = f":mag: Dry run of {echo(display)}: nothing was changed."
    would = f"*Would:* {clip(change, 1000)}"
    shown = [f"• {clip(line, 500)}" for line in now[:DRY_RUN_STATE_LINES]]
    if len(now) > DRY_RUN_STATE_LINES:
        shown.append(f"• … {len(now) - DRY_RUN_STATE_LINES} more lines not shown")
    state = ["*Now:*", *(shown or ["• _nothing read_"])]
    gates = ["*Checks:*", *(f"• {clip(line, 500)}" for line in checks[:20])]
    footer = f"dry run · job `{short_id}` · no lease taken, no prompt posted, nothing run"
    blocks = [
        section_block(f"{headline}\n{would}"),
        *section_blocks([*state, *gates], max_sections=4),
        context_block(footer),
    ]
    return SlackMessage(text=fallback_text(headline, would, *state, *gates), blocks=blocks)
