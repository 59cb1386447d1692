"""/ops-unfreeze <environment>: end its freeze, by who froze it or whom the policy's `freeze` rule admits."""

from __future__ import annotations

from shared.blockkit import SlackMessage, echo, escape, mention, simple
from shared.commands.builtin.unfreeze import UnfreezeArgs
from shared.holds import Freeze, moment
from shared.jobs import JobEnvelope
from worker_function import hold_messages
from worker_function.errors import HoldRefusedError
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation


class UnfreezeOperation:
    """The operation of `unfreeze` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: UnfreezeArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        user = job.requester.user_id
        record = ctx.holds.freeze_record(args.environment)
        if record is not None and record.lifted_by == job.job_id:  # a redelivery: ended already
            return unfrozen(record.freeze, user, job.short_id)
        if record is None or not record.freeze.standing(ctx.now().timestamp()):
            return not_frozen(args.environment, job.short_id)
        freeze = record.freeze
        rule = ctx.inventory.policy.hold_rule("freeze", args.environment)
        if user != freeze.by and (rule is None or rule.admits(user, args.environment, ctx.group_members) is not True):
            what = f"The freeze of {args.environment}"
            why = hold_messages.held_by_someone_else(what, freeze.by, freeze.since, rule is not None)
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        if not ctx.holds.unfreeze(record, job):
            why = f"the freeze of {echo(args.environment)} changed while it was being ended; look again."
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        ctx.audit.record(job, "unfreeze", f"freeze by {freeze.by} until {moment(freeze.until)}: {freeze.reason}")
        return unfrozen(freeze, user, job.short_id)


OPERATION: Operation[UnfreezeArgs] = UnfreezeOperation()


def unfrozen(freeze: Freeze, by: str, short_id: str) -> SlackMessage:
    whose = "" if by == freeze.by else f" (frozen by {mention(freeze.by)} until {moment(freeze.until)})"
    return simple(
        f":sunny: {echo(freeze.environment)} is no longer frozen: ended by {mention(by)}{whose}.",
        f"job `{escape(short_id)}`",
    )


def not_frozen(environment: str, short_id: str) -> SlackMessage:
    return simple(
        f":information_source: {echo(environment)} is not frozen: nothing to end.", f"job `{escape(short_id)}`"
    )
