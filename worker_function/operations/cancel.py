"""/ops-cancel <job>: stop a running or waiting job by the short id people see in opsbot's messages.

Allowed to the job's requester, to whom a policy rule listing `/ops-cancel` admits (for the environment of
the job's target), and to the approvers of the rule the job's command needs approving by. Cooperative: the
registry's record of the job is ended as `cancelled` (a conditional write: it wins only if the job has not
finished, and the job's last step writes `finished` only if no cancel is there, so exactly one of
"cancelled" / "completed" is told); the executor reads the record at each step boundary, so the next step
does not run. Then the target's own stop (`stop` of the job's operation module: CodeBuild StopBuild,
Jenkins stop or queue cancel; an ECS deployment is left to finish, and said so); if the target turns out to
have completed by itself before the stop, that is what is told. A prompt or an approval request still
waiting is decided as cancelled (`store.decisions`, racing Confirm / Approve as they race each other) and
settled by a `settle` job, which updates its message. The lease is released, the canceller is answered, the
job's own message replaced by how it ended (a notice through its response_url: its requester always hears it,
cancelled or completed before the cancel, and no progress message is left "started"), the cancel audited
(`cancel`). The registry names the cancel that won (`cancel_job`) and keeps what its stop found: a retry of that
cancel after a failure (a queue or audit write) carries on and tells the same thing, never "already cancelled".
An audit write that fails goes to the queue as an audit note: it does not decide what anyone is told.
"""

from __future__ import annotations

import logging

from shared.blockkit import SlackMessage
from shared.commands import AuditNoteArgs, NoticeArgs, SettleArgs, find_command
from shared.commands.builtin.cancel import CancelArgs
from shared.jobs import JobEnvelope, audit_target, job_id_for
from shared.policy import PolicyRequest, decide
from worker_function import jobs_view, tracking
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.store.jobs import JobRecord

logger = logging.getLogger(__name__)

CANCEL = "/ops-cancel"


def may_cancel(ctx: OperationContext, record: JobRecord, canceller: str, channel: str) -> bool:
    """The requester; a rule listing /ops-cancel that admits the canceller for the job's environment; or one of
    the approvers the policy asks the job's command to be approved by."""
    if canceller == record.requester:
        return True
    spec = find_command(record.command)
    environment = None
    if spec is not None and spec.accepts is not None and record.subject:
        environment = ctx.inventory.environment_of(spec.accepts, record.subject)
    policy = ctx.inventory.policy
    for rule in policy.rules:
        listed = CANCEL in rule.commands and rule.applies(CANCEL, environment)
        if listed and rule.admits(canceller, channel, ctx.group_members) is True:
            return True
    request = PolicyRequest(
        command=record.command,
        mutating=bool(spec and spec.mutating),
        environment=environment,
        user=record.requester,
        channel=record.channel,
    )
    approval = decide(policy, request, ctx.group_members).approval
    return approval is not None and approval.could_approve(canceller, ctx.group_members) is True


def _cancelled_by_this(record: JobRecord, job: JobEnvelope) -> bool:
    return record.state == "cancelled" and record.cancel_job == job.job_id


#: How a cancel's result is kept in the registry's outcome, so that a retry tells what the first attempt found
#: (a build it stopped reads as ended by then) rather than stopping again.
_STOPPED = "cancelled: "
_COMPLETED = "completed before the cancel: "


def _ended(record: JobRecord) -> SlackMessage:
    return jobs_view.already_ended(record.display, record.short_id, record.state, record.outcome, record.cancelled_by)


def envelope_of(record: JobRecord) -> JobEnvelope:
    return JobEnvelope.from_message(record.envelope)


def _cancel_prompt(ctx: OperationContext, record: JobRecord, job: JobEnvelope) -> SlackMessage | None:
    """Decide the waiting prompt as cancelled and queue its settlement (which updates its message); None when a
    Confirm or an Approve got there first (the job runs: it is cancelled as a running job)."""
    canceller = job.requester.user_id
    decision = ctx.decisions.claim(record.job_id, "cancelled", canceller)
    if not decision.won:
        if decision.outcome in ("confirmed", "approved"):
            return None
        return jobs_view.already_ended(
            record.display, record.short_id, "finished", f"its prompt was {decision.outcome}"
        )
    tracking.end(
        ctx.jobs, record.job_id, "cancelled", f"cancelled at its {record.waiting_for}", canceller, cancel_job=job.job_id
    )
    waiting = envelope_of(record)  # the prompt's expiry, as queued with it
    target = waiting.args.target if isinstance(waiting.args, SettleArgs) else "-"
    approval = record.waiting_for == "approval"
    settle = waiting.changed(
        job_id=job_id_for(waiting.requester.team_id, f"ops-cancel:{record.job_id}"),
        args=SettleArgs(prompt_id=record.job_id, outcome="cancelled", by=canceller, approval=approval, target=target),
        replace_original=not approval,  # a confirmation prompt is replaced through its response_url
    )
    ctx.queue.send(settle)
    by_them = waiting.changed(job_id=record.job_id, requester=job.requester)  # the audit names the canceller
    _audit(ctx, by_them, f"{record.requester}'s job cancelled at its {record.waiting_for}")
    return jobs_view.job_cancelled(
        record.display, record.short_id, record.requester, canceller, [f"its {record.waiting_for} is closed"]
    )


def _claim_its_prompt(ctx: OperationContext, record: JobRecord, canceller: str) -> SlackMessage | None:
    """A job queued by a Confirm or an Approve may not have claimed its prompt's decision yet (its first step died
    after writing "running"): the cancel claims it as cancelled first, so that the prompt's expiry, later, loses
    it and says nothing. Claimed as confirmed or approved (the job runs: it is cancelled as a running job), or
    by this cancel (a retry wins again): None. Decided otherwise (expired, refused, rejected), that decision told
    the requester: the canceller is told so, and nothing is cancelled."""
    envelope = envelope_of(record)
    if envelope.confirmed_by is None and envelope.approved_by is None:
        return None
    decision = ctx.decisions.claim(record.job_id, "cancelled", canceller)
    if decision.won or decision.outcome in ("confirmed", "approved"):
        return None
    return jobs_view.already_ended(record.display, record.short_id, "finished", f"its prompt was {decision.outcome}")


def _cancel_job(ctx: OperationContext, record: JobRecord, job: JobEnvelope) -> SlackMessage:
    """End the job as cancelled (the registry decides between the cancel and the job's last step), stop it at its
    target, then tell both people and audit it. Each person hears one ending: the canceller in this answer, the
    requester in the job's own message (replaced: no progress message is left "started"). A retry of this
    cancel (a failure after it won) tells what the first attempt found, kept in the registry."""
    canceller = job.requester.user_id
    undecided = _claim_its_prompt(ctx, record, canceller)
    if undecided is not None:
        return undecided
    ending = ctx.jobs.end(record.job_id, "cancelled", f"cancelled by {canceller}", canceller, cancel_job=job.job_id)
    if not ending.won:  # it finished first (or someone else cancelled it): that is what is told
        return jobs_view.already_ended(
            record.display, record.short_id, ending.state, ending.outcome, ending.cancelled_by
        )
    cancelled = envelope_of(record)
    by_them = cancelled.changed(requester=job.requester)  # the audit names the canceller
    if record.outcome.startswith(_COMPLETED):  # found by an earlier attempt of this cancel
        completed: str | None = record.outcome.removeprefix(_COMPLETED)
        lines: list[str] = []
    elif record.outcome.startswith(_STOPPED):
        completed, lines = None, [line for line in record.outcome.removeprefix(_STOPPED).split("\n") if line]
    else:
        stopped = tracking.stop_at_target(ctx, cancelled, record.step_state)
        completed = stopped.completed
        lines = [*stopped.lines, *_release(ctx, record)]
        kept = f"{_COMPLETED}{completed}" if completed is not None else _STOPPED + "\n".join(lines)
        ctx.jobs.end(record.job_id, "cancelled", kept, canceller, cancel_job=job.job_id)
    if completed is not None:  # the target had ended by itself: completed, and told as such
        how = f"its target had ended {completed}"
        said = jobs_view.completed_before_cancel(record.display, record.short_id, how)
        told = jobs_view.completed_before_cancel(
            record.display, record.short_id, how, requester=record.requester, canceller=canceller
        )
        _tell_requester(ctx, cancelled, told)
        _audit(ctx, by_them, f"{record.requester}'s job had completed first: {completed}")
        return said
    said = jobs_view.job_cancelled(record.display, record.short_id, record.requester, canceller, lines)
    told = jobs_view.job_cancelled(
        record.display, record.short_id, record.requester, canceller, lines, for_requester=True
    )
    _tell_requester(ctx, cancelled, told)
    _audit(ctx, by_them, f"{record.requester}'s job: " + "; ".join(lines))
    return said


def _audit(ctx: OperationContext, by_them: JobEnvelope, detail: str) -> None:
    """The cancel in the audit trail. A failed write does not change what anyone is told: the record goes on the
    jobs queue instead (an audit note the worker writes, retried by SQS like any job); only when neither
    could be done does the cancel fail, and its retry carries on where it stopped."""
    try:
        ctx.audit.record(by_them, "cancel", detail)
        return
    except Exception:
        logger.exception("the cancel of %s could not be audited now; queued for the audit trail", by_them.display)
    note = by_them.changed(
        args=AuditNoteArgs(event="cancel", target=audit_target(by_them), detail=detail[:500]),
        response_url=None,
        continuation=None,
        schema_version=1,
    )
    ctx.queue.send(note)


def _release(ctx: OperationContext, record: JobRecord) -> list[str]:
    """The lease a job waiting for its next step holds; a step under way releases its own when it ends."""
    if not record.lease:
        return []
    if record.state == "running":
        return [f"the lease on `{record.lease}` is released when the step under way ends"]
    holder = ctx.leases.holder(record.lease)
    if holder is None or holder.owner_job != record.job_id:
        return []
    ctx.leases.release(holder)
    return [f"the lease on `{record.lease}` is released"]


def _tell_requester(ctx: OperationContext, cancelled: JobEnvelope, message: SlackMessage) -> None:
    """The job's own message, replaced by how it ended: through its response_url, or with chat.update once its
    progress moved to a channel message (a new message when neither is possible): its requester is told, and no
    progress message is left "started"."""
    progress = cancelled.continuation.progress if cancelled.continuation else None
    channel, ts = (progress.channel, progress.ts) if progress is not None and progress.ts else (None, None)
    notice = cancelled.changed(
        job_id=job_id_for(cancelled.requester.team_id, f"cancel-notice:{cancelled.job_id}"),
        args=NoticeArgs(text=message.text[:3000], update_channel=channel, update_ts=ts),
        continuation=None,
        schema_version=1,
        replace_original=True,
        confirmed_by=None,
        approved_by=None,
    )
    ctx.queue.send(notice)


class CancelOperation:
    """The operation of `cancel` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: CancelArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        canceller = job.requester.user_id
        found = ctx.jobs.find(args.job_id.lower())
        if not found:
            known = [r.short_id for r in ctx.jobs.active()]
            return jobs_view.unknown_job(args.job_id, known)
        if len(found) > 1:
            return jobs_view.ambiguous_job(args.job_id, [r.job_id for r in found])
        record = ctx.jobs.get(found[0].job_id) or found[0]  # the index is eventually consistent; the table is not
        if _cancelled_by_this(record, job):  # a retry of this very cancel (a failure after it won): carry on
            if record.waiting_for in ("confirmation", "approval"):
                return _cancel_prompt(ctx, record, job) or _cancel_job(ctx, record, job)
            return _cancel_job(ctx, record, job)
        if not record.active:
            return jobs_view.already_ended(
                record.display, record.short_id, record.state, record.outcome, record.cancelled_by
            )
        if not may_cancel(ctx, record, canceller, job.requester.channel_id):
            by_them = envelope_of(record).changed(requester=job.requester)  # the audit names who tried
            ctx.audit.record(by_them, "denial", f"cancel of {record.requester}'s job refused: not theirs to cancel")
            return jobs_view.not_yours(record.display, record.short_id, record.requester)
        if record.state == "waiting" and record.waiting_for in ("confirmation", "approval"):
            said = _cancel_prompt(ctx, record, job)
            if said is not None:
                return said
            record = ctx.jobs.get(record.job_id) or record  # confirmed or approved first: the job runs; stop it
        return _cancel_job(ctx, record, job)


OPERATION: Operation[CancelArgs] = CancelOperation()
