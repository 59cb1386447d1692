"""Answering: the step's message delivered (response_url, or chat.postMessage / chat.update), and a waiting
job's next step queued with its state. Each runs once per (job, step) (`pipeline`'s records)."""

from __future__ import annotations

import logging
from typing import Any

from shared.jobs import Continuation, ProgressHandle
from shared.observability import job_log_keys
from worker_function.errors import ContinuationError
from worker_function.outcomes import NothingToPost
from worker_function.store.intents import Intent
from worker_function.walk import Walk

logger = logging.getLogger(__name__)


def deliver(walk: Walk) -> dict[str, Any]:
    """Deliver the step's message. A one-step job answers once; a long job keeps one message updated."""
    job, outcome, services = walk.job, walk.outcome, walk.services
    assert outcome is not None
    message = outcome.message
    if isinstance(message, NothingToPost):  # a waiting expiry, a prompt that something else decided
        previous = job.continuation.progress if job.continuation else None
        return {"route": "none", "progress": previous.model_dump(mode="json") if previous else {}}
    # The message is a side effect too: an intent first; finding one, an earlier attempt may have
    # delivered it (a timeout after sending, a crash before this stage saved), so it replaces that copy.
    # An answer that replaces its prompt through the response_url needs none: a repeat replaces the same message
    # again. Past the response_url's 30 minutes it is a chat.postMessage, which a repeat would post twice.
    one_answer = (job.continuation is None or walk.pipeline.control) and not outcome.waiting
    replaces = one_answer and outcome.replace_original and services.replier.response_url_usable(job)
    again = not replaces and (
        services.ctx.intents.write(Intent(job_id=job.job_id, step=job.step, name="reply")) is not None
    )
    if one_answer:
        # A notice or settle replaces the prompt it answers; a confirmed job replaces its prompt when it
        # was refused before it could run (denied by the policy, target busy, prompt already decided).
        route = services.replier.send(job, message, replace_original=outcome.replace_original, again=again)
        logger.info("answered via %s", route, extra=job_log_keys(job))
        return {"route": route}
    previous = job.continuation.progress if job.continuation else None
    # A job picked from a picker replaces the picker with its first message, as its answer would.
    handle = services.replier.publish(job, message, previous, again=again, replace_first=outcome.replace_original)
    logger.info("step %d shown (final: %s)", job.step, message.final, extra=job_log_keys(job))
    return {"route": "progress", "progress": handle.model_dump(mode="json")}


def next_step(walk: Walk) -> str:
    """Queue the job's next step with its state, after the step's delay (SQS allows 0..900 s)."""
    job, outcome, services = walk.job, walk.outcome, walk.services
    if services.queue is None:
        raise ContinuationError("this worker has no queue to continue long jobs on")
    assert outcome is not None and outcome.state is not None and walk.reply is not None
    continuation = Continuation(
        step=job.step + 1,
        state=outcome.state,
        started_at=outcome.started_at,
        progress=ProgressHandle.model_validate(walk.reply.get("progress") or {}),
    )
    delay = int(min(max(outcome.delay_s, 0), services.max_delay_s, 900))
    message_id = services.queue.send(job.continued(continuation), delay_seconds=delay)
    logger.info("step %d queued in %d s", job.step + 1, delay, extra=job_log_keys(job))
    return message_id
