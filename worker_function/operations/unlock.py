"""/ops-unlock <target>: lift the target's lock, by its locker or whom the policy's `lock` rule admits."""

from __future__ import annotations

from shared.blockkit import SlackMessage, echo, escape, mention, simple
from shared.commands.builtin.unlock import UnlockArgs
from shared.holds import Lock, moment
from shared.jobs import JobEnvelope
from worker_function import hold_messages
from worker_function.errors import HoldRefusedError
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation


class UnlockOperation:
    """The operation of `unlock` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: UnlockArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        user = job.requester.user_id
        lease = ctx.holds.lease_on(args.target)
        lock = lease.lock if lease is not None else None
        if lease is not None and lock is not None and lease.lifted_by == job.job_id:  # a redelivery: lifted already
            return unlocked(lock, user, job.short_id)
        if lease is None or lease.expires_at < ctx.now().timestamp():
            return not_locked(args.target, job.short_id)
        if lock is None:
            why = held_by_a_job(lease.target, lease.command, lease.requester, lease.since_hhmm, lease.owner_job)
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        environment = ctx.inventory.environment_of("target", args.target)
        rule = ctx.inventory.policy.hold_rule("lock", environment)
        if user != lock.by and (rule is None or rule.admits(user, environment, ctx.group_members) is not True):
            why = hold_messages.held_by_someone_else(
                f"The lock on {args.target}", lock.by, lock.since, rule is not None
            )
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        if not ctx.holds.unlock(lease, job):
            why = f"the lock on {echo(args.target)} changed while it was being lifted; look again and retry."
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        ctx.audit.record(job, "unlock", f"lock by {lock.by} since {moment(lock.since)}: {lock.reason}")
        return unlocked(lock, user, job.short_id)


OPERATION: Operation[UnlockArgs] = UnlockOperation()


def unlocked(lock: Lock, by: str, short_id: str) -> SlackMessage:
    whose = "" if by == lock.by else f" (locked by {mention(lock.by)} since {moment(lock.since)})"
    return simple(f":unlock: {echo(lock.target)} is unlocked by {mention(by)}{whose}.", f"job `{escape(short_id)}`")


def not_locked(target: str, short_id: str) -> SlackMessage:
    return simple(f":information_source: {echo(target)} is not locked: nothing to lift.", f"job `{escape(short_id)}`")


def held_by_a_job(target: str, command: str, requester: str, since: str, job: str) -> str:
    """Why, for `hold_refused`: the target's lease is a running job's, not a lock."""
    return (
        f"{echo(target)} is held by a running job, not a lock: {echo(command)} by {mention(requester)} since "
        f"{escape(since)} (job `{escape(job[:8])}`). Unlocking does not stop it."
    )
