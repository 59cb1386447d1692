"""What a job's step does, decided without I/O from (job, spec, policy verdict, stored claim, now, holds).

The executor's stages (`pipeline`, `stages`) gather those inputs (`stages.prompt` claims the confirmation first;
`stages.planning` reads the rest: the policy with user groups resolved, the target's lock and its environment's
freeze) and do what the `StepPlan` says: `Run` the step, `Refuse` it before it runs, or `Stop` a later step under
its target's lease (past its maximum age, or back with a state it cannot resume from). A mutating command's first
step is refused on a locked target or in a frozen environment, unless the policy's `override_freeze` rule lets
the requester through a freeze (audited).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shared.audit import AuditEvent
from shared.blockkit import SlackMessage, echo, escape, humanize_seconds, shorten
from shared.commands import CommandSpec, Pipeline, pipeline_for
from shared.holds import Freeze, Lock, moment
from shared.jobs import JobEnvelope
from shared.policy import Decision as PolicyDecision
from worker_function.errors import (
    AlreadyDecidedError,
    DecisionRefusedError,
    NotConfirmedError,
    PermanentJobError,
    PolicyDeniedError,
    StaleStateError,
    TargetFrozenError,
    TargetLockedError,
)
from worker_function.job_messages import outcome
from worker_function.operations import StepState
from worker_function.operations.registry import resume_state
from worker_function.outcomes import Said

#: An audit note: its event and detail.
Note = tuple[AuditEvent, str]


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for a job's first step, user groups resolved by the executor."""

    decision: PolicyDecision
    #: Whether the job's approver may approve (None: not asked, no approver or no approval needed).
    approver_admitted: bool | None = None
    #: Whom a refused requester may ask (the policy's contact), when the rule names nobody.
    contact: str = ""


@dataclass(frozen=True)
class HoldFacts:
    """What holds a mutating job's target: its lock and its environment's freeze as read (the plan checks they
    still stand at `now`), and whether the `override_freeze` rule admits the requester (None: not asked)."""

    lock: Lock | None = None
    freeze: Freeze | None = None
    override: bool | None = None


@dataclass(frozen=True)
class Claimed:
    """The stored outcome of claiming the job's confirmation: `won`, or the outcome that stands."""

    outcome: str
    won: bool


@dataclass(frozen=True)
class ApproverRefused:
    """An approver who turned out not to be one: told alone, in the approvals channel."""

    by: str
    channel: str
    rule: str | None


@dataclass(frozen=True)
class Run:
    """Run the step: claim the approval (if any), write the audit notes, then the step under the lease."""

    #: The state a later step resumes from (None: the first step).
    state: StepState | None = None
    claim_approval: str | None = None
    audits: tuple[Note, ...] = ()
    #: A confirmed job's prompt becomes "confirmed, queued" just before it runs.
    replace_prompt: bool = False


@dataclass(frozen=True)
class Refuse:
    """The job does not run: `error` is its answer, after the audit note and telling a refused approver."""

    error: PermanentJobError
    audit: Note | None = None
    approver: ApproverRefused | None = None


@dataclass(frozen=True)
class Stop:
    """A later step ends the job under its target's lease (released): `message`, or `error` if set."""

    message: Said | None = None
    error: PermanentJobError | None = None


StepPlan = Run | Refuse | Stop


def plan_step(
    job: JobEnvelope,
    spec: CommandSpec | None,
    verdict: Verdict | None,
    stored: Claimed | None,
    now: datetime,
    holds: HoldFacts | None = None,
) -> StepPlan:
    """What the job's step does; `verdict`, `stored` and `holds` are None where its pipeline asks for none."""
    if stored is not None and not stored.won:
        return Refuse(AlreadyDecidedError(stored.outcome, approval=False))
    if job.continuation is not None:
        return _later_step(job, spec, now)
    run = Run(replace_prompt=bool(job.confirmed_by) and job.replace_original)
    planned = run if verdict is None else _admitted(job, pipeline_for(job.kind), verdict, run)
    return _held(planned, holds, now) if isinstance(planned, Run) and holds is not None else planned


def hold_refusal(holds: HoldFacts, now: datetime) -> Refuse | None:
    """The refusal a mutating command's first step would meet now for these holds (None: it would run), so a
    confirmation prompt can be refused before its Confirm (`control/settle.py`)."""
    planned = _held(Run(), holds, now)
    return planned if isinstance(planned, Refuse) else None


def _held(run: Run, holds: HoldFacts, now: datetime) -> StepPlan:
    """A first step the policy admits, on a locked target (refused) or in a frozen environment (refused, or run
    through the freeze by whom the `override_freeze` rule admits, audited as an override)."""
    at = now.timestamp()
    lock, freeze = holds.lock, holds.freeze
    if lock is not None and lock.standing(at):
        detail = f"{lock.target} is locked by {lock.by} since {moment(lock.since)}: {lock.reason}"
        return Refuse(TargetLockedError(lock), audit=("denial", detail))
    if freeze is None or not freeze.standing(at):
        return run
    detail = f"{freeze.environment} is frozen by {freeze.by} until {moment(freeze.until)}: {freeze.reason}"
    if holds.override is not True:
        return Refuse(TargetFrozenError(freeze), audit=("denial", detail))
    return replace(run, audits=(*run.audits, ("override", f"ran through the freeze (rule override_freeze): {detail}")))


def _later_step(job: JobEnvelope, spec: CommandSpec | None, now: datetime) -> StepPlan:
    assert job.continuation is not None
    try:
        state: StepState | None = resume_state(job.kind, job.step, job.continuation.state)
        stale = None
    except StaleStateError as exc:
        state, stale = None, exc
    elapsed = (now - job.continuation.started_at).total_seconds()
    if spec is not None and elapsed > spec.max_age_s:
        last = state.summary if state is not None else ""
        return Stop(message=timed_out(job.display, job.short_id, elapsed, spec.max_age_s, last))
    return Stop(error=stale) if stale is not None else Run(state=state)


def _admitted(job: JobEnvelope, pipeline: Pipeline, verdict: Verdict, run: Run) -> StepPlan:
    """The first step of a policy-checked job: approved by a second person, confirmed, allowed."""
    decision = verdict.decision
    approval = decision.approval if decision.allowed is True and pipeline.approval else None
    if approval is not None:
        approver, rule = job.approved_by, decision.rule
        if approver is None or approver == job.requester.user_id:
            reason = f"`{job.command}` needs the approval of a second person (rule `{rule}`)"
            return Refuse(PolicyDeniedError(rule, reason, decision.ask), audit=("denial", reason))
        if verdict.approver_admitted is not True:  # the ack could not see user groups: nothing is decided
            return Refuse(
                DecisionRefusedError(approver, rule), approver=ApproverRefused(approver, approval.channel, rule)
            )
        run = replace(run, claim_approval=approver, audits=(("approval", f"approved by {approver}"),))
    elif pipeline.confirmed and not job.confirmed_by:
        reason = f"`{job.command}` runs only once its prompt is confirmed by the requester"
        return Refuse(NotConfirmedError(reason), audit=("denial", reason))
    if decision.allowed is True:
        start: Note = ("start", f"allowed by rule {decision.rule}" if decision.rule else "")
        return replace(run, audits=(*run.audits, start))
    reason = decision.reason or f"membership of the user groups of rule `{decision.rule}` could not be checked"
    ask = decision.ask or verdict.contact
    return Refuse(PolicyDeniedError(decision.rule, reason, ask), audit=("denial", f"rule {decision.rule}: {reason}"))


def timed_out(display: str, short_id: str, elapsed_s: float, max_age_s: int, last: str = "") -> SlackMessage:
    details = [f"Last seen: {escape(shorten(last, 500))}"] if last else []
    return outcome(
        None,
        f"{echo(display)} stopped after {humanize_seconds(elapsed_s)}: past its maximum of "
        f"{humanize_seconds(max_age_s)} (job `{short_id}`). opsbot no longer follows it; what it started may "
        "still be running.",
        details,
    )
