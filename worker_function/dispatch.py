"""One queue message in: the operation runs at most once, and the requester always hears back.

Delivery from SQS is at least once, so both steps are idempotent by job id (Powertools idempotency,
DynamoDB): `run` executes the operation once and keeps its result message; `reply` delivers that
message once. A redelivery after a failed reply re-sends the kept result without running again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aws_lambda_powertools.metrics import Metrics, MetricUnit
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from shared import messages
from shared.commands import spec_for_kind
from shared.errors import JobFormatError
from shared.jobs import JobEnvelope, ReplyTarget, reply_target_of
from shared.messages import SlackMessage
from shared.observability import (
    COMMAND_DIMENSION,
    JOB_DURATION,
    JOB_OUTCOME,
    OUTCOME_DIMENSION,
    QUEUE_WAIT,
    job_log_keys,
    publish,
)
from worker_function.dead_letters import DeadLetters
from worker_function.errors import PermanentJobError
from worker_function.leases import LeaseStore
from worker_function.operations import OperationContext, operation_for
from worker_function.reply import SlackReplier

logger = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        ctx: OperationContext,
        replier: SlackReplier,
        *,
        leases: LeaseStore,
        run_store: BasePersistenceLayer,
        reply_store: BasePersistenceLayer,
        idempotency: IdempotencyConfig,
        dead_letters: DeadLetters | None,
        max_receive_count: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.ctx = ctx
        self.replier = replier
        self.leases = leases
        self.dead_letters = dead_letters
        self.max_receive_count = max_receive_count
        self.metrics = metrics
        self._idempotency = idempotency
        self._run_once = idempotent_function(
            data_keyword_argument="key",
            persistence_store=run_store,
            config=idempotency,
            key_prefix="opsbot#run",
            output_serializer=PydanticSerializer(SlackMessage),
        )(self._run)
        self._reply_once = idempotent_function(
            data_keyword_argument="key", persistence_store=reply_store, config=idempotency, key_prefix="opsbot#reply"
        )(self._reply)

    def start_invocation(self, lambda_context: Any) -> None:
        """An INPROGRESS record of this invocation expires with it, so a timeout never blocks a retry."""
        self._idempotency.register_lambda_context(lambda_context)

    def handle_record(self, body: str, receive_count: int) -> None:
        """Handle one SQS message. Returning means "delete it"; raising means "deliver it again"."""
        try:
            job = JobEnvelope.from_message(body)
        except JobFormatError as exc:
            self._reject(body, str(exc), receive_count)
            return
        keys = job_log_keys(job)
        logger.info("received %s (attempt %d)", job.display, receive_count, extra=keys)
        key = {"job_id": job.job_id, "step": 0}
        try:
            message = self._run_once(key=key, job=job)
            self._reply_once(key=key, job=job, message=message)
        except IdempotencyAlreadyInProgressError:
            if receive_count >= self.max_receive_count:
                logger.warning("duplicate delivery while the job still runs; the running copy answers", extra=keys)
                return
            raise  # not lost: it comes back after the visibility timeout, when the result is known
        except Exception as exc:
            if receive_count < self.max_receive_count:
                logger.warning("attempt %d failed, SQS will retry: %r", receive_count, exc, extra=keys)
                raise
            self._give_up(job, body, exc, receive_count)

    def _run(self, *, key: dict[str, Any], job: JobEnvelope) -> SlackMessage:
        """Run the job's operation under its target's lease; a permanent failure becomes the answer."""
        started = time.monotonic()
        keys = job_log_keys(job)
        self._publish(job, {QUEUE_WAIT: (self.ctx.now() - job.issued_at).total_seconds() * 1000})
        spec = spec_for_kind(job.kind)
        target = spec.target_of(job.args) if spec else None
        operation = operation_for(job.kind)
        try:
            if target is None:
                message = operation.run(job.args, job, self.ctx)
            else:
                with self.leases.hold(target, job):
                    message = operation.run(job.args, job, self.ctx)
        except PermanentJobError as exc:
            logger.info("executed %s: failed permanently: %s", job.display, exc, extra=keys)
            self._publish(job, {JOB_DURATION: (time.monotonic() - started) * 1000}, outcome=type(exc).__name__)
            return exc.to_message(job)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info("executed %s in %.0f ms", job.display, elapsed_ms, extra=keys)
        self._publish(job, {JOB_DURATION: elapsed_ms}, outcome="succeeded")
        return message

    def _reply(self, *, key: dict[str, Any], job: JobEnvelope, message: SlackMessage) -> str:
        route = self.replier.send(job, message)
        logger.info("answered via %s", route, extra=job_log_keys(job))
        return route

    def _give_up(self, job: JobEnvelope, body: str, exc: Exception, attempts: int) -> None:
        """Last allowed receive: tell the requester, then dead-letter the job with the reason."""
        reason = f"{type(exc).__name__}: {exc}"[:300]
        try:
            self.replier.send(job, messages.gave_up(job.display, job.short_id, attempts, reason))
        except Exception as notify_exc:
            reason += f" (the requester could not be told: {notify_exc!r})"[:300]
        logger.error("giving up after %d attempts: %s", attempts, reason, extra=job_log_keys(job))
        self._publish(job, {}, outcome="gave_up")
        if self.dead_letters is None:
            raise exc  # the queue's redrive policy moves it on the next receive
        self.dead_letters.put(body, reason=reason, attempts=attempts)

    def _reject(self, body: str, reason: str, attempts: int) -> None:
        """A poison message goes to the DLQ at once; the requester is told when the envelope says who."""
        target = reply_target_of(body)
        logger.error("rejecting a message that is not a job: %s", reason, extra=job_log_keys(target))
        if target is not None:
            try:
                self.replier.send(target, messages.rejected(target.display, target.short_id, reason))
            except Exception as exc:
                reason += f" (the requester could not be told: {exc!r})"
        if self.dead_letters is None:
            raise JobFormatError(reason)
        self.dead_letters.put(body, reason=reason, attempts=attempts)

    def _publish(self, job: ReplyTarget, timings_ms: dict[str, float], *, outcome: str | None = None) -> None:
        """Publish the job's metrics by command (and outcome): each job is its own EMF set."""
        if self.metrics is None:
            return
        self.metrics.add_dimension(name=COMMAND_DIMENSION, value=job.command or "unknown")
        for name, value in timings_ms.items():
            self.metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
        if outcome is not None:
            self.metrics.add_dimension(name=OUTCOME_DIMENSION, value=outcome)
            self.metrics.add_metric(name=JOB_OUTCOME, unit=MetricUnit.Count, value=1)
        publish(self.metrics)
