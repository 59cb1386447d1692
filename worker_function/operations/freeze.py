"""/ops-freeze <environment> <reason> [--for 2h]: every mutating command on the environment is refused until then."""

from __future__ import annotations

from shared.blockkit import SlackMessage, echo, escape, mention, simple
from shared.commands.builtin.freeze import FreezeArgs
from shared.holds import Freeze, moment
from shared.jobs import JobEnvelope
from worker_function import hold_messages
from worker_function.errors import HoldRefusedError
from worker_function.hold_messages import hold_reason
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.store.holds import FreezeRecord


def _ended_since(record: FreezeRecord | None, job: JobEnvelope) -> bool:
    """This job's own freeze, ended since (an /ops-unfreeze between two attempts of this job)."""
    return record is not None and record.owner_job == job.job_id and bool(record.lifted_by)


def _stays_ended(
    args: FreezeArgs, job: JobEnvelope, ctx: OperationContext, record: FreezeRecord | None
) -> SlackMessage:
    assert record is not None
    ctx.audit.record(job, "freeze", f"{args.reason} (ended since, by job {record.lifted_by[:8]})")
    return freeze_ended_meanwhile(args.environment, record.lifted_by, job.short_id)


class FreezeOperation:
    """The operation of `freeze` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: FreezeArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        policy = ctx.inventory.policy
        rule = policy.hold_rule("freeze", args.environment)
        user = job.requester.user_id
        admitted = rule is not None and rule.admits(user, args.environment, ctx.group_members) is True
        if rule is not None and not admitted:
            what = f"freezing {args.environment}"
            why = hold_messages.not_allowed_to(what, "freeze", rule.describe(), rule.ask or policy.contact)
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        now = int(ctx.now().timestamp())
        standing = ctx.holds.freeze_record(args.environment)
        if _ended_since(standing, job):
            return _stays_ended(args, job, ctx, standing)
        replacing = None
        if standing is not None and standing.freeze.standing(now) and standing.owner_job != job.job_id:
            if standing.freeze.by != user and not admitted:  # only who froze it (or the rule's people) change it
                what = f"The freeze of {args.environment}"
                why = hold_messages.held_by_someone_else(
                    what, standing.freeze.by, standing.freeze.since, rule is not None
                )
                raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
            replacing = standing.owner_job
        freeze = Freeze(args.environment, user, args.reason, now, now + args.for_minutes * 60, job.job_id)
        if not ctx.holds.freeze(freeze, job, replacing=replacing):
            again = ctx.holds.freeze_record(args.environment)
            if _ended_since(again, job):
                return _stays_ended(args, job, ctx, again)
            why = f"the freeze of {echo(args.environment)} changed meanwhile; look again and retry."
            raise HoldRefusedError(hold_messages.hold_refused(job.display, why, job.short_id))
        ctx.audit.record(job, "freeze", f"until {moment(freeze.until)}: {args.reason}")
        return froze(freeze, job.short_id)


OPERATION: Operation[FreezeArgs] = FreezeOperation()


def freeze_ended_meanwhile(environment: str, ended_by_job: str, short_id: str) -> SlackMessage:
    """A freeze that was made, then ended before its job could answer (its retry does not put it back)."""
    return simple(
        f":sunny: {echo(environment)} was frozen, and the freeze was ended since (by job "
        f"`{escape(ended_by_job[:8])}`): it stays unfrozen. Freeze it again if it should be.",
        f"job `{escape(short_id)}`",
    )


def froze(freeze: Freeze, short_id: str) -> SlackMessage:
    return simple(
        f":snowflake: {echo(freeze.environment)} is frozen by {mention(freeze.by)} until {moment(freeze.until)}: "
        f"{hold_reason(freeze.reason)}. Every mutating command on it is refused until then or "
        f"`/ops-unfreeze {escape(freeze.environment)}`.",
        f"job `{escape(short_id)}`",
    )
