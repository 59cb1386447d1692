"""The metrics concern of a walk: per command (EMF), how long a job waited in the queue before its first step,
how long its step took and how it ended (succeeded, the permanent error's name, gave_up)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import Metrics, MetricUnit

from shared.commands import pipeline_for
from shared.observability import COMMAND_DIMENSION, JOB_DURATION, JOB_OUTCOME, OUTCOME_DIMENSION, QUEUE_WAIT, publish
from worker_function.operations import Wait
from worker_function.walk import Walk


def queue_wait(walk: Walk) -> None:
    """A job's first step: how long it waited since the ack queued it."""
    assert walk.now is not None
    job = walk.job
    if job.continuation is None:
        emit(walk.services.metrics, job, {QUEUE_WAIT: (walk.now - job.issued_at).total_seconds() * 1000})


def finished(walk: Walk) -> None:
    """A step that did not wait: its duration, and how it ended."""
    if isinstance(walk.result, Wait):
        return
    elapsed_ms = (time.monotonic() - walk.started) * 1000
    emit(walk.services.metrics, walk.job, {JOB_DURATION: elapsed_ms}, outcome=walk.ended)


def emit(metrics: Metrics | None, job: Any, timings_ms: dict[str, float], *, outcome: str | None = None) -> None:
    """Publish the job's metrics by command (and outcome): each job is its own EMF set (a job kind whose pipeline
    is not `measured`, a timer say, publishes none)."""
    kind = getattr(job, "kind", None)
    if metrics is None or (kind is not None and not pipeline_for(kind).measured):
        return
    metrics.add_dimension(name=COMMAND_DIMENSION, value=job.command or "unknown")
    for name, value in timings_ms.items():
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
    if outcome is not None:
        metrics.add_dimension(name=OUTCOME_DIMENSION, value=outcome)
        metrics.add_metric(name=JOB_OUTCOME, unit=MetricUnit.Count, value=1)
    publish(metrics)
