"""Powertools Logger and Metrics (EMF) set up the same way in both functions.

The job id is the correlation id from the ack to the worker: the ack logs it with every queued job
and sends it as the `correlation_id` message attribute; the worker sets it on its logger for every
line it writes while handling that job.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

NAMESPACE = "opsbot"

# Metric names, one place for the code and the CDK dashboard/alarms.
ACK_LATENCY = "AckLatency"
ENQUEUE_FAILURES = "EnqueueFailures"
JOBS_QUEUED = "JobsQueued"
QUEUE_WAIT = "QueueWait"
JOB_DURATION = "JobDuration"
JOB_OUTCOME = "JobOutcome"
#: Alarm notifications the worker could not show: no route in the inventory's [alarms], or unreadable.
ALARMS_DROPPED = "AlarmsDropped"

#: Dimensions of the worker's per-job metrics (besides Powertools' `service`).
COMMAND_DIMENSION = "command"
OUTCOME_DIMENSION = "outcome"


def function_logger(service: str, package: str) -> Logger:
    """A JSON logger for the function whose format the package's stdlib loggers share (call after imports)."""
    logger = Logger(service=service)
    copy_config_to_registered_loggers(source_logger=logger, include={name for name in _loggers_under(package)})
    return logger


def function_metrics(service: str) -> Metrics:
    return Metrics(namespace=NAMESPACE, service=service)


def _loggers_under(package: str) -> list[str]:
    import logging

    return [name for name in logging.root.manager.loggerDict if name == package or name.startswith(package + ".")]


def job_log_keys(job: object) -> dict[str, str]:
    """The keys every log line about a job carries, in the ack and the worker alike."""
    return {
        "correlation_id": str(getattr(job, "correlation_id", "") or getattr(job, "job_id", "")),
        "job_id": str(getattr(job, "job_id", "")),
        "command": str(getattr(job, "command", "")),
    }


def publish(metrics: Metrics) -> None:
    """Flush the EMF metrics now and start a fresh set (with POWERTOOLS_METRICS_DISABLED Powertools
    skips the clearing, so the set would grow until it prints anyway)."""
    if metrics.metric_set:
        metrics.flush_metrics()
    metrics.clear_metrics()
