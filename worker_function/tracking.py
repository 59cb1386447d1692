"""Keeping the registry of jobs (`store.jobs`) up to date, and stopping a job at its target.

Every write here is best effort: a registry that cannot be written is logged and the job goes on as if it
were not there, so the registry never adds a failure to a job's exactly-once path (no stage fails, nothing
runs again because of it). What a registry write decides (a cancel that won) is only acted on when the write
went through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shared.commands import spec_for_kind
from shared.jobs import JobEnvelope
from shared.observability import job_log_keys
from worker_function.errors import PermanentJobError
from worker_function.store.jobs import GivenUp, JobRecord, JobRegistry, JobState, WaitingFor

if TYPE_CHECKING:
    from worker_function.operations import OperationContext

logger = logging.getLogger(__name__)


def record_of(
    job: JobEnvelope,
    state: JobState,
    *,
    job_id: str | None = None,
    waiting_for: WaitingFor = "",
    step_state: dict[str, Any] | None = None,
    lease: bool = True,
) -> JobRecord:
    """The registry's record of `job` (or, with `job_id`, of the prompt `job` settles) in `state`."""
    spec = spec_for_kind(job.kind)
    subject = str(getattr(job.args, spec.subject)) if spec is not None and spec.subject else ""
    if not subject:
        subject = str(getattr(job.args, "target", "") or "").strip("-")
    held = spec.target_of(job.args) if spec is not None and lease else None
    since = job.continuation.started_at if job.continuation else job.issued_at
    values = dict(step_state if step_state is not None else (job.continuation.state if job.continuation else {}))
    return JobRecord(
        job_id=job_id or job.job_id,
        display=job.display,
        command=job.command,
        kind=job.kind,
        subject=subject,
        requester=job.requester.user_id,
        channel=job.requester.channel_id,
        since=since.timestamp(),
        step=job.step,
        summary=str(values.get("summary") or ""),
        lease=held,
        state=state,
        waiting_for=waiting_for,
        step_state=values,
        envelope=job.to_message(),
    )


def track(jobs: JobRegistry, record: JobRecord, *, first: bool = False) -> JobRecord | None:
    """Write the record; the record that stands if it was not written, None if written (or not writable)."""
    try:
        return jobs.track(record, first=first)
    except Exception:
        logger.exception("the registry could not record job %s as %s", record.short_id, record.state)
        return None


def end(
    jobs: JobRegistry,
    job_id: str,
    state: Literal["finished", "cancelled"],
    outcome: str,
    by: str = "",
    *,
    cancel_job: str = "",
    given_up: GivenUp | None = None,
) -> JobRecord | None:
    """End the job in the registry: the ending that stands (`won` if this one), None if it could not be written."""
    try:
        return jobs.end(job_id, state, outcome, by, cancel_job=cancel_job, given_up=given_up)
    except Exception:
        logger.exception("the registry could not record job %s as %s", job_id[:8], state)
        return None


@dataclass
class Stopped:
    """What a cancel did at the job's target: lines to tell, and whether the target had completed by itself."""

    lines: list[str] = field(default_factory=list)
    #: The target had already ended by itself (its outcome, e.g. "SUCCEEDED"): nothing was stopped.
    completed: str | None = None


def stop_at_target(ctx: OperationContext, job: JobEnvelope, step_state: dict[str, Any]) -> Stopped:
    """The operation's own stop (`stop(args, job, ctx, state)` of its module, as `resume`: StopBuild, Jenkins
    stop) for the state its last step left; an operation without one is followed no further."""
    from worker_function.operations.protocols import Resumable, Stoppable
    from worker_function.operations.registry import operation_for, resume_state

    operation = operation_for(job.kind)
    if not (isinstance(operation, Stoppable) and isinstance(operation, Resumable)) or not step_state:
        return Stopped(lines=["no later step runs"])
    try:
        state = resume_state(job.kind, job.step, step_state)
    except Exception:  # a state it cannot read: nothing to stop by
        logger.warning("cannot read the state of %s to stop it", job.display, extra=job_log_keys(job))
        return Stopped(lines=["no later step runs"])
    try:
        result: Stopped = operation.stop(job.args, job, ctx, state)
    except PermanentJobError as exc:  # the job is cancelled all the same: no later step runs
        logger.warning("could not stop %s at its target: %s", job.display, exc, extra=job_log_keys(job))
        return Stopped(lines=[f"it could not be stopped at its target: {exc}", "no later step runs"])
    return result
