"""The viewer's App Home tab, published when they open it (`app_home_opened` -> queued by the ack -> here).

It shows the viewer's running jobs, their prompts and approvals waiting (the registry of jobs), the approval
requests waiting for them (the registry's approvals, whose approvers the decisions store holds), and the
section hook where the locks and freezes join. The view is set with views.publish (Tier 4, ~100/min), which
replaces the whole tab: a redelivery publishes the same view again, no duplicate. At most 100 blocks.
"""

from __future__ import annotations

from typing import Any

from shared.commands import HomeArgs
from shared.jobs import JobEnvelope
from shared.policy import Approval
from worker_function import hold_messages
from worker_function.jobs_view import ApprovalRow, home_view
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.jobs import Readable, row_of
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost
from worker_function.store.jobs import JobRecord


def approval_for(ctx: OperationContext, record: JobRecord, viewer: str) -> ApprovalRow | None:
    """The record's approval request, if it waits and the viewer is one of its approvers (never the requester)."""
    if record.waiting_for != "approval" or record.state != "waiting" or record.requester == viewer:
        return None
    decision = ctx.decisions.get(record.job_id)
    if decision is None or decision.outcome or not decision.approvers:
        return None
    approval = Approval(approvers=list(decision.approvers), channel=decision.channel or "")
    if approval.could_approve(viewer, ctx.group_members) is not True:
        return None
    return ApprovalRow(record.short_id, record.display, record.requester, record.since, decision.channel or "")


def extra_sections(ctx: OperationContext, readable: Readable) -> list[dict[str, Any]]:
    """The freezes and locks standing now in the environments the policy lets the viewer read `/ops-jobs` in."""
    return hold_messages.holds_blocks(readable.holds(ctx.holds.holds(ctx.inventory)), ctx.now().timestamp())


class HomeOperation:
    """The operation of `home` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: HomeArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
        viewer = job.requester.user_id
        records = ctx.jobs.active()
        mine = [r for r in records if r.requester == viewer]
        prompts = ("confirmation", "approval")
        running = [row_of(r) for r in mine if r.waiting_for not in prompts]
        waiting = [row_of(r) for r in mine if r.state == "waiting" and r.waiting_for in prompts]
        approvals = [row for r in records if (row := approval_for(ctx, r, viewer)) is not None]
        readable = Readable(ctx, job)
        holds = extra_sections(ctx, readable)
        view = home_view(viewer, running, waiting, approvals, now=ctx.now(), extra_blocks=[*holds, *readable.note()])
        ctx.slack.views_publish(user_id=viewer, view=view)
        return NothingToPost(reason="the Home tab was published (views.publish)")


OPERATION: Operation[HomeArgs] = HomeOperation()
