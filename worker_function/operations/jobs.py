"""/ops-jobs [target]: what runs now and what waits (a prompt, an approval, its next step), from the registry
of jobs, and who holds each target's lease, from the leases store. Answered to the requester alone."""

from __future__ import annotations

from typing import Any

from shared.blockkit import SlackMessage, context_block
from shared.commands.builtin.jobs import JobsArgs
from shared.guard import may_read
from shared.holds import Holds
from shared.inventory import Inventory
from shared.jobs import JobEnvelope
from worker_function import hold_messages
from worker_function.jobs_view import JobRow, LeaseRow, jobs_overview
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.store.jobs import JobRecord

JOBS = "/ops-jobs"
#: At most this many targets' leases are read for a listing without a target (one GetItem each).
MAX_LEASES_READ = 100


def row_of(record: JobRecord) -> JobRow:
    return JobRow(
        short_id=record.short_id,
        display=record.display,
        requester=record.requester,
        since=record.since,
        state=record.state,
        step=record.step,
        summary=record.summary,
        lease=record.lease if record.waiting_for in ("", "next step") else None,
        waiting_for=record.waiting_for,
    )


def lease_names(inventory: Inventory) -> list[str]:
    """Every name a mutating command takes a lease on: targets, suites, Jenkins jobs."""
    names = [*inventory.targets, *inventory.suites, *inventory.jenkins_jobs]
    return sorted(set(names))[:MAX_LEASES_READ]


def lease_rows(ctx: OperationContext, names: list[str]) -> list[LeaseRow]:
    rows = []
    now = ctx.now().timestamp()
    for name in names:
        lease = ctx.leases.holder(name)
        if lease is not None and lease.lock is None and lease.expires_at >= now:  # locks: in the holds section
            rows.append(LeaseRow(name, lease.requester, lease.command, lease.since, lease.owner_job))
    return rows


def about(record: JobRecord, target: str | None) -> bool:
    return target is None or target in (record.subject, record.lease)


class Readable:
    """Which environments the policy lets the viewer read `/ops-jobs` in (user groups resolved), asked once each:
    a listing shows the jobs, leases, locks and freezes of those alone, and counts what it left out."""

    def __init__(self, ctx: OperationContext, job: JobEnvelope) -> None:
        self._ctx = ctx
        self._user, self._channel = job.requester.user_id, job.requester.channel_id
        self._known: dict[str | None, bool] = {}
        self.hidden = 0

    def environment(self, environment: str | None) -> bool:
        if environment not in self._known:
            self._known[environment] = may_read(
                self._ctx.inventory, JOBS, environment, self._user, self._channel, self._ctx.group_members
            )
        if not self._known[environment]:
            self.hidden += 1
        return self._known[environment]

    def name(self, name: str | None) -> bool:
        """What the inventory calls `name` (a target, a suite, a Jenkins job), in its environment."""
        return self.environment(self._ctx.inventory.environment_named(name) if name else None)

    def record(self, record: JobRecord) -> bool:
        return record.requester == self._user or self.name(record.subject or record.lease)

    def holds(self, holds: Holds) -> Holds:
        return Holds(
            locks=tuple(lock for lock in holds.locks if self.name(lock.target)),
            freezes=tuple(f for f in holds.freezes if self.environment(f.environment)),
            environments=holds.environments,
        )

    def note(self) -> list[dict[str, object]]:
        if not self.hidden:
            return []
        return [not_shown_by_policy(self.hidden)]


def extra_sections(ctx: OperationContext, target: str | None, readable: Readable) -> list[dict[str, object]]:
    """The freezes and locks standing now that the viewer may read (only the target's lock and its environment's
    freeze, if named)."""
    holds = ctx.holds.holds(ctx.inventory)
    if target is not None:
        environment = holds.environments.get(target)
        holds = Holds(
            locks=tuple(lock for lock in holds.locks if lock.target == target),
            freezes=tuple(f for f in holds.freezes if environment is not None and f.environment == environment),
            environments=holds.environments,
        )
    return hold_messages.holds_blocks(readable.holds(holds), ctx.now().timestamp())


class JobsOperation:
    """The operation of `jobs` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: JobsArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        readable = Readable(ctx, job)
        records = [r for r in ctx.jobs.active() if about(r, args.target) and readable.record(r)]
        running = [row_of(r) for r in records if r.state == "running"]
        waiting = [row_of(r) for r in records if r.state == "waiting"]
        names = [args.target] if args.target else lease_names(ctx.inventory)
        leases = [row for row in lease_rows(ctx, names) if readable.name(row.target)]
        holds = extra_sections(ctx, args.target, readable)
        return jobs_overview(
            running,
            waiting,
            leases,
            now=ctx.now(),
            short_id=job.short_id,
            target=args.target,
            extra_blocks=[*holds, *readable.note()],
        )


OPERATION: Operation[JobsArgs] = JobsOperation()


def not_shown_by_policy(count: int) -> dict[str, Any]:
    """The context line under a listing the policy cut: how many entries, never which."""
    what = "entry is" if count == 1 else "entries are"
    return context_block(f"{count} {what} not shown: they are in environments the policy does not let you read.")
