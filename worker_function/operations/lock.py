"""/ops-lock <target> <reason>: a person's lease on the target; its mutating commands are refused until lifted."""

from __future__ import annotations

from shared.blockkit import SlackMessage, echo, escape, mention, simple
from shared.commands.builtin.lock import LockArgs
from shared.holds import Lock, moment
from shared.jobs import JobEnvelope
from worker_function import hold_messages
from worker_function.errors import HoldRefusedError, LockRefusedError
from worker_function.hold_messages import hold_reason
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.store.leases import LOCK_OWNER, Lease


def _lifted_since(lease: Lease | None, job: JobEnvelope) -> Lease | None:
    """The lease when it is this job's own lock, lifted (an /ops-unlock between two attempts of this job)."""
    if lease is not None and lease.owner_job == f"{LOCK_OWNER}{job.job_id}" and lease.lifted_by:
        return lease
    return None


class LockOperation:
    """The operation of `lock` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: LockArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        policy = ctx.inventory.policy
        environment = ctx.inventory.environment_of("target", args.target)
        rule = policy.hold_rule("lock", environment)
        if rule is not None and rule.admits(job.requester.user_id, environment, ctx.group_members) is not True:
            why = hold_messages.not_allowed_to(
                f"locking {args.target}", "lock", rule.describe(), rule.ask or policy.contact
            )
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        lifted = _lifted_since(ctx.holds.lease_on(args.target), job)
        if lifted is None:
            try:
                lease = ctx.holds.lock(args.target, job, args.reason)  # held by a job or another's lock: refused
            except LockRefusedError as exc:
                lifted = _lifted_since(exc.holder, job)
                if lifted is None:
                    raise
        if lifted is not None:  # an earlier attempt locked it and someone lifted it since: it stays lifted
            ctx.audit.record(job, "lock", f"{args.reason} (lifted since, by job {lifted.lifted_by[:8]})")
            return lock_lifted_meanwhile(args.target, lifted.lifted_by, job.short_id)
        lock = lease.lock
        assert lock is not None
        ctx.audit.record(job, "lock", args.reason)
        return lock_taken(lock, job.short_id)


OPERATION: Operation[LockArgs] = LockOperation()


def lock_taken(lock: Lock, short_id: str) -> SlackMessage:
    return simple(
        f":lock: {echo(lock.target)} is locked by {mention(lock.by)}: {hold_reason(lock.reason)}. Mutating commands on "
        f"it are refused until `/ops-unlock {escape(lock.target)}` (at the latest {moment(lock.until)}).",
        f"job `{escape(short_id)}`",
    )


def lock_lifted_meanwhile(target: str, lifted_by_job: str, short_id: str) -> SlackMessage:
    """A lock that was taken, then lifted before its job could answer (its retry does not put it back)."""
    return simple(
        f":unlock: {echo(target)} was locked, and the lock was lifted since (by job `{escape(lifted_by_job[:8])}`): "
        "it stays unlocked. Lock it again if it should be.",
        f"job `{escape(short_id)}`",
    )
