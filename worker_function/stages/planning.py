"""Planning a step: the facts `plan.plan_step` needs, gathered by reads alone (the target known to the inventory,
the policy's verdict with user groups resolved, the target's lock and its environment's freeze), then its
decision. Nothing here writes: what the plan says is done by the stages after it."""

from __future__ import annotations

from shared.guard import check
from worker_function.errors import GroupLookupError
from worker_function.plan import HoldFacts, Verdict, plan_step
from worker_function.prompts import hold_facts
from worker_function.walk import Walk


def plan(walk: Walk) -> None:
    """`walk.plan`: run the step, refuse it, or stop the job. A confirmation claimed by something else first
    (expired, cancelled) is refused without looking further."""
    job, spec, pipeline, ctx = walk.job, walk.spec, walk.pipeline, walk.services.ctx
    assert walk.now is not None
    verdict: Verdict | None = None
    holds: HoldFacts | None = None
    if walk.claimed is None or walk.claimed.won:
        if spec is not None and spec.accepts is not None and spec.subject is not None:
            ctx.inventory.require(spec.accepts, str(getattr(job.args, spec.subject)))
        if job.continuation is None and pipeline.policy_checked:
            verdict = _verdict(walk)
        if job.continuation is None and pipeline.lease and spec is not None:
            holds = hold_facts(ctx, spec, job.args, job.requester.user_id)
    walk.plan = plan_step(job, spec, verdict, walk.claimed, walk.now, holds)


def _verdict(walk: Walk) -> Verdict:
    """The policy checked again with user groups resolved (the ack could not), and the approver's standing."""
    job, ctx = walk.job, walk.services.ctx
    decision = check(job, ctx.inventory, ctx.group_members)
    approval = decision.approval if decision.allowed is True and walk.pipeline.approval else None
    approver, admitted = job.approved_by, None
    if approval is not None and approver is not None and approver != job.requester.user_id:
        try:
            admitted = approval.could_approve(approver, ctx.group_members) is True
        except GroupLookupError as exc:  # told to the approver alone; the request stays open
            raise exc.clicked(approver, "approval", approval.channel) from None
    return Verdict(decision=decision, approver_admitted=admitted, contact=ctx.inventory.policy.contact)
