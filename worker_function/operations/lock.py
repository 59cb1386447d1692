"""/ops-lock <target> <reason>: a person's lease on the target; its mutating commands are refused until lifted."""

from __future__ import annotations

from shared import messages
from shared.commands import LockArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.errors import HoldRefusedError
from worker_function.operations import OperationContext


def run(args: LockArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    policy = ctx.inventory.policy
    environment = ctx.inventory.environment_of("target", args.target)
    rule = policy.hold_rule("lock", environment)
    if rule is not None and rule.admits(job.requester.user_id, environment, ctx.group_members) is not True:
        why = messages.not_allowed_to(f"locking {args.target}", "lock", rule.describe(), rule.ask or policy.contact)
        raise HoldRefusedError(messages.hold_refused(job.display, why, job.short_id))
    lease = ctx.holds.lock(args.target, job, args.reason)  # LockRefusedError: held by a job or another's lock
    lock = lease.lock
    assert lock is not None
    ctx.audit.record(job, "lock", args.reason)
    return messages.lock_taken(lock, job.short_id)
