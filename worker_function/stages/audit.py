"""The audit concern of a walk: notes gathered in the walk's `AuditNotes` and written in one call (before the
step's side effects, and at the end of the walk); a retry that skips the step takes them from its record."""

from __future__ import annotations

import logging

from shared.blockkit import SlackMessage
from shared.observability import job_log_keys
from worker_function.plan import Refuse, Run
from worker_function.walk import Walk

logger = logging.getLogger(__name__)


def request(walk: Walk) -> None:
    """The request (and its confirmation) of an audited job's first step."""
    job = walk.job
    walk.notes.items.append(("request", ""))
    if job.confirmed_by:
        walk.notes.items.append(("confirmation", f"confirmed by {job.confirmed_by}"))


def planned(walk: Walk) -> None:
    """The plan's notes (a denial, an approval, an override, the start); a step that runs has them written before
    its side effects (a job that only reads, at the end)."""
    plan = walk.plan
    if isinstance(plan, Refuse) and plan.audit is not None:
        walk.notes.items.append(plan.audit)
    if isinstance(plan, Run):
        walk.notes.items.extend(plan.audits)
        if not walk.pipeline.reads_only:
            write(walk)


def kept(walk: Walk) -> None:
    """The notes the step made, kept with its outcome in its record."""
    assert walk.outcome is not None
    walk.outcome = walk.outcome.model_copy(update={"audits": tuple(walk.notes.items[walk.notes.mark :])})


def restored(walk: Walk) -> None:
    """The step ran in an earlier delivery (its outcome read back from its record): its notes come from there."""
    assert walk.outcome is not None
    if not walk.ran:
        walk.notes.items.extend(walk.outcome.audits)


def outcome(walk: Walk) -> None:
    """The first line of what the job told (a job that told nobody has no outcome)."""
    assert walk.outcome is not None
    message = walk.outcome.message
    if isinstance(message, SlackMessage):
        walk.notes.items.append(("outcome", message.text.splitlines()[0]))


def write(walk: Walk) -> None:
    """The notes not written yet, in one call."""
    notes, trail = walk.notes, walk.services.audit
    if trail is None or len(notes.items) <= notes.written:
        return
    trail.record_all(walk.job, notes.items[notes.written :])
    notes.written = len(notes.items)


def write_quietly(walk: Walk) -> None:
    """What was asked is recorded, even when the walk failed: a failure to write is only logged."""
    try:
        write(walk)
    except Exception:
        job = walk.job
        logger.exception("the audit records of %s could not be written", job.display, extra=job_log_keys(job))
