"""The step itself: what the plan says it is (refused, stopped, or the operation's `run`/`resume`), its failures
classified, and its outcome (the message with its footer, the state its next step resumes from).

An operation's failure: `PermanentJobError` is told to the requester as it says; an error a retry may fix (a
transient AWS or network error, a Slack answer, one of opsbot's own retryable errors: `errors.retryable`) goes
up, and SQS delivers the job again; anything else a command's operation raises (a bug, a library's error opsbot
does not know) is a permanent failure, `OperationCrashedError`, told to the requester at once rather than
retried into the DLQ.
"""

from __future__ import annotations

import logging
import time

from shared import blockkit
from shared.blockkit import SlackMessage, echo, escape, humanize_seconds, mention, shorten, simple
from shared.inventory import UnknownNameError
from shared.observability import job_log_keys
from worker_function.errors import OperationCrashedError, PermanentJobError, StaleStateError, retryable
from worker_function.operations import StepResult, Wait
from worker_function.operations.protocols import Resumable
from worker_function.outcomes import Said
from worker_function.plan import Refuse, Run, Stop
from worker_function.walk import StepOutcome, Walk

logger = logging.getLogger(__name__)


def begin(walk: Walk) -> None:
    """The step's clock starts (and the audit notes it makes are counted from here)."""
    walk.ran = True
    walk.now = walk.services.ctx.now()
    walk.started = time.monotonic()
    walk.notes.mark = len(walk.notes.items)


def operate(walk: Walk) -> None:
    """Do what the plan says: raise its refusal, stop the job with its message, or run the operation's step."""
    plan, job = walk.plan, walk.job
    if isinstance(plan, Refuse):
        raise plan.error
    if isinstance(plan, Stop):
        if plan.error is not None:
            raise plan.error
        assert plan.message is not None
        walk.result = plan.message
        return
    assert isinstance(plan, Run)
    operation = walk.services.operation_of(job.kind)
    ctx = walk.services.ctx
    if plan.state is not None and not isinstance(operation, Resumable):
        raise StaleStateError(f"`{job.kind}` has no steps to resume")
    try:
        if plan.state is None:
            result: StepResult = operation.run(job.args, job, ctx)
        else:
            result = operation.resume(job.args, job, ctx, plan.state)
    except Exception as exc:
        if isinstance(exc, PermanentJobError | UnknownNameError) or retryable(exc) or _not_a_command(walk):
            raise  # a control message's failure (not a command's) is retried as before
        logger.exception("%s: its operation raised %s", job.display, type(exc).__name__, extra=job_log_keys(job))
        raise OperationCrashedError(job.command, exc) from exc
    walk.result = result
    walk.prompt_replaced = plan.replace_prompt


def _not_a_command(walk: Walk) -> bool:
    """The worker's own message (a notice, a settle, an approval request): its failures are retried as ever."""
    return walk.spec is None and walk.job.kind != "dry_run"


def failed(walk: Walk) -> None:
    """A permanent failure (the target unknown, refused, failed at the target) becomes the step's answer."""
    job, exc = walk.job, walk.failure
    if isinstance(exc, UnknownNameError):
        walk.ended, walk.detail = "UnknownName", f": {exc}"
        walk.result = unknown_name(job.display, job.short_id, str(exc))
        return
    assert isinstance(exc, PermanentJobError)
    walk.ended, walk.detail = type(exc).__name__, f": failed permanently: {exc}"
    walk.result = exc.to_message(job)


def outcome(walk: Walk) -> None:
    """The step's outcome: its message (with a footer on a long job's), the state its next step resumes from."""
    job, result, now = walk.job, walk.result, walk.now
    assert result is not None and now is not None
    internal = walk.pipeline.control
    replace = job.replace_original and not walk.prompt_replaced and (job.continuation is None or internal)
    first_ran = job.continuation.started_at if job.continuation else now
    if isinstance(result, Wait):
        logger.info("step %d of %s waits %.0f s", job.step, job.display, result.delay_s, extra=job_log_keys(job))
        footer = step_footer(job.step, (now - first_ran).total_seconds(), job.short_id)
        walk.outcome = StepOutcome(
            message=_with_footer(result.progress, footer),
            started_at=first_ran,
            state=result.state.model_dump(mode="json"),
            delay_s=result.delay_s,
            replace_original=replace,
        )
        return
    elapsed_ms = (time.monotonic() - walk.started) * 1000
    logger.info(
        "executed %s (step %d) in %.0f ms%s", job.display, job.step, elapsed_ms, walk.detail, extra=job_log_keys(job)
    )
    said: Said = result
    if job.continuation is not None and not internal:  # a long job's last word
        footer = final_footer(job.requester.user_id, (now - first_ran).total_seconds(), job.short_id)
        said = _with_footer(said, footer)
    walk.outcome = StepOutcome(message=said, started_at=first_ran, replace_original=replace)


def _with_footer(said: Said, footer: str) -> Said:
    return blockkit.with_footer(said, footer) if isinstance(said, SlackMessage) else said


def unknown_name(display: str, short_id: str, problem: str) -> SlackMessage:
    return simple(f":question: {echo(display)} was not run (job `{short_id}`): {escape(shorten(problem, 1500))}")


def step_footer(step: int, elapsed_s: float, short_id: str) -> str:
    return f"step {step + 1} · running for {humanize_seconds(elapsed_s)} · job `{short_id}`"


def final_footer(user_id: str, elapsed_s: float, short_id: str) -> str:
    return f"asked by {mention(user_id)} · took {humanize_seconds(elapsed_s)} · job `{short_id}`"
