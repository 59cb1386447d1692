"""The registry concern of a walk (`store.jobs`, through `tracking`): a tracked job is "running" before its step,
"waiting" or "finished" after it; a cancel seen at either boundary stops the walk. Every write is best effort
(`tracking`): a registry that cannot be written is logged and the job goes on."""

from __future__ import annotations

import logging

from shared.blockkit import SlackMessage
from shared.commands import spec_for_kind
from shared.jobs import JobEnvelope
from shared.observability import job_log_keys
from worker_function import tracking
from worker_function.stages import lease
from worker_function.store.jobs import GivenUp
from worker_function.walk import Services, Walk

logger = logging.getLogger(__name__)


def running(walk: Walk) -> None:
    """The step is about to run (before its prompt's claim, its lease or any side effect): a cancelled job's walk
    stops here (its canceller told the requester; no step of it runs again)."""
    job = walk.job
    standing = tracking.track(walk.services.ctx.jobs, tracking.record_of(job, "running"))
    if standing is not None and standing.state == "cancelled":
        logger.info("%s was cancelled by %s: step %d not run", job.display, standing.cancelled_by, job.step)
        walk.halted = True
    elif standing is not None and standing.given_up is not None and standing.given_up.covers(job.step, job.requeued):
        # Its requester was told it failed; a next step queued after all (SQS took it, its answer was lost), or the
        # successor its last receive queued, stops here, quietly: one ending. The very copy given up again (a
        # redrive from the DLQ) runs.
        logger.info("%s was given up at step %d: step %d not run", job.display, standing.given_up.step, job.step)
        walk.halted = True


def successor(walk: Walk) -> None:
    """A successor of a job the registry does not track (a read, a lock, a prompt's expiry, a notice): the copy it
    follows may have been given up (its requester told it failed, its mark written by `end_quietly`): then it stops
    here, quietly, one ending. A tracked job's `running` finds the same mark. The read is not best effort: a successor
    that cannot tell is retried, never run on a guess."""
    job = walk.job
    standing = walk.services.ctx.jobs.get(job.job_id)
    if standing is not None and standing.given_up is not None and standing.given_up.covers(job.step, job.requeued):
        logger.info("%s was given up at step %d: its successor stops", job.display, standing.given_up.step)
        walk.halted = True


def after_step(walk: Walk) -> None:
    """After the step: waiting for its next step, or finished with its message's first line. A cancel that won
    meanwhile stops the walk: the step's new state is stopped at the target, its lease released, nothing told."""
    job, outcome, ctx = walk.job, walk.outcome, walk.services.ctx
    assert outcome is not None
    if outcome.waiting:
        record = tracking.record_of(job, "waiting", waiting_for="next step", step_state=outcome.state)
        standing = tracking.track(ctx.jobs, record)
        cancelled = standing is not None and standing.state == "cancelled"
    else:
        said = outcome.message
        line = said.text.splitlines()[0] if isinstance(said, SlackMessage) and said.text else "done"
        ended = tracking.end(ctx.jobs, job.job_id, "finished", line)
        cancelled = ended is not None and not ended.won and ended.state == "cancelled"
    if not cancelled:
        return
    logger.info("%s was cancelled while step %d ran: its result is not told", job.display, job.step)
    if outcome.waiting and outcome.state:
        tracking.stop_at_target(ctx, job, outcome.state)  # what this step started, if anything
    lease.release_own(walk.services.leases, walk.spec, job)
    walk.halted = not walk.pipeline.reads_only  # a read told already: its answer shares its step's record


def gave_up(job: JobEnvelope, attempts: int, reason: str) -> str:
    """The registry's outcome of a job given up (what /ops-jobs and /ops-cancel show)."""
    return f"failed after {attempts} attempt{'s' if attempts != 1 else ''} at step {job.step + 1}: {reason}"


def end_quietly(services: Services, job: JobEnvelope, attempts: int, reason: str) -> bool:
    """A job given up: not left "running" in /ops-jobs, nor holding its target's lease, until they expire. Its
    ending says where (`GivenUp`), so that a next step that SQS took after all (its answer lost), or a successor
    of the copy given up, stops quietly. Written for every job: one the registry does not track has no record
    until it is given up, and its successor looks for this one (`successor`). Whether an ending stands."""
    ended = None
    try:
        where = GivenUp(step=job.step, requeued=job.requeued)
        ended = tracking.end(services.ctx.jobs, job.job_id, "finished", gave_up(job, attempts, reason), given_up=where)
        lease.release_own(services.leases, spec_for_kind(job.kind), job)
    except Exception:
        logger.exception("%s: its registry record or lease could not be ended", job.display, extra=job_log_keys(job))
    return ended is not None
