"""The prompt concern of a walk (`worker_function.prompts`): a confirmed job claims its confirmation first, so
that exactly one of confirmed / cancelled / expired wins (the claim is the prompt's own decision, which the plan
reads); an approved job claims its approval once the plan admits it, or its approver is refused, told alone; a
confirmed job's prompt becomes "confirmed, queued" once the policy and the target's lease let it run."""

from __future__ import annotations

import logging

from shared.blockkit import SlackMessage, echo, mention, simple
from shared.observability import job_log_keys
from worker_function.plan import Claimed, Refuse, Run
from worker_function.prompts import claim_approval, refuse_decision
from worker_function.walk import Walk

logger = logging.getLogger(__name__)


def claim_confirmation(walk: Walk) -> None:
    """Claim the confirmation of a confirmed job's first step (its pipeline checks the policy): `walk.claimed`."""
    job = walk.job
    assert job.confirmed_by is not None
    claim = walk.services.ctx.decisions.claim(job.job_id, "confirmed", job.confirmed_by)
    walk.claimed = Claimed(outcome=claim.outcome, won=claim.won)
    if not claim.won:
        logger.warning("%s not run: its prompt was %s", job.display, claim.outcome, extra=job_log_keys(job))


def settle(walk: Walk) -> None:
    """What the plan decided about the job's approval: claimed (the step runs), or its approver refused."""
    plan, job, ctx = walk.plan, walk.job, walk.services.ctx
    if isinstance(plan, Refuse) and plan.approver is not None:
        refused = plan.approver
        refuse_decision(
            ctx, job, "approval", by=refused.by, prompt_id=job.job_id, channel=refused.channel, rule=refused.rule
        )
    elif isinstance(plan, Run) and plan.claim_approval is not None:
        claim_approval(ctx, job, plan.claim_approval)


def replace(walk: Walk) -> str:
    """A confirmed job's prompt becomes "confirmed by ..., queued", just before it runs (once: `opsbot#prompt`)."""
    job = walk.job
    message = confirmed(job.display, job.short_id, job.confirmed_by or job.requester.user_id)
    return walk.services.replier.send(job, message, replace_original=True)


def confirmed(display: str, short_id: str, user_id: str) -> SlackMessage:
    """Replaces the prompt; not the job's last message (its result follows)."""
    message = simple(f":white_check_mark: {echo(display)} confirmed by {mention(user_id)}: queued as job `{short_id}`.")
    return message.model_copy(update={"final": False})
