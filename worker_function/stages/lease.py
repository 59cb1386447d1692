"""The lease concern of a walk: one mutating job per target. The step runs holding its target's lease (renewed
while it runs); a waiting job keeps it until its next step, which takes it again as its owner; the job's end
(its last step, a permanent failure, a cancel, giving up) releases it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from shared.commands import CommandSpec
from shared.jobs import JobEnvelope
from worker_function.errors import PermanentJobError
from worker_function.operations import Wait
from worker_function.plan import Refuse
from worker_function.store import Leases
from worker_function.store.leases import HeldLease
from worker_function.walk import Walk


def take(walk: Walk) -> None:
    """Hold the target's lease for the step (a refused step takes none); released or kept when the step ends."""
    job, spec = walk.job, walk.spec
    target = spec.target_of(job.args) if spec else None
    if target is None or isinstance(walk.plan, Refuse):
        return
    assert walk.exits is not None
    since = int(job.continuation.started_at.timestamp()) if job.continuation else None
    poll_s = walk.services.ctx.settings.poll_interval_s
    walk.held = walk.exits.enter_context(_held(walk.services.leases, target, job, since, poll_s))


def keep(walk: Walk) -> None:
    """A step that waits keeps its target until its next step (after the step's delay)."""
    if walk.held is not None and isinstance(walk.result, Wait):
        walk.held.keep(walk.result.delay_s)


def release_own(leases: Leases, spec: CommandSpec | None, job: JobEnvelope) -> None:
    """The job's lease released, if the job still holds it (a cancel that won, a job given up)."""
    target = spec.target_of(job.args) if spec else None
    holder = leases.holder(target) if target is not None else None
    if holder is not None and holder.owner_job == job.job_id:
        leases.release(holder)


@contextlib.contextmanager
def _held(leases: Leases, target: str, job: JobEnvelope, since: int | None, poll_s: float) -> Iterator[HeldLease]:
    """The lease for one step. A later step failing for a reason a retry may fix keeps it (the retry takes it
    back); a permanent failure releases it: the job is over."""
    with leases.step(target, job, since=since) as held:
        try:
            yield held
        except PermanentJobError:
            raise
        except Exception:
            if job.continuation is not None:
                held.keep(poll_s)
            raise
