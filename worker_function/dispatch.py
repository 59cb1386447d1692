"""One queue message in: the operation runs at most once, and the requester always hears back.

Delivery from SQS is at least once, so both steps are idempotent by job id (Powertools idempotency,
DynamoDB): `run` executes the operation once and keeps its result message; `reply` delivers that
message once. A redelivery after a failed reply re-sends the kept result without running again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from shared import messages
from shared.commands import spec_for_kind
from shared.errors import JobFormatError
from shared.jobs import JobEnvelope, reply_target_of
from shared.messages import SlackMessage
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
    ) -> None:
        self.ctx = ctx
        self.replier = replier
        self.leases = leases
        self.dead_letters = dead_letters
        self.max_receive_count = max_receive_count
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
        key = {"job_id": job.job_id, "step": 0}
        try:
            message = self._run_once(key=key, job=job)
            self._reply_once(key=key, job=job, message=message)
        except IdempotencyAlreadyInProgressError:
            if receive_count >= self.max_receive_count:
                logger.warning("job %s: duplicate delivery while it still runs; the running copy answers", job.job_id)
                return
            raise  # not lost: it comes back after the visibility timeout, when the result is known
        except Exception as exc:
            if receive_count < self.max_receive_count:
                logger.warning("job %s: attempt %d failed, SQS will retry: %r", job.job_id, receive_count, exc)
                raise
            self._give_up(job, body, exc, receive_count)

    def _run(self, *, key: dict[str, Any], job: JobEnvelope) -> SlackMessage:
        """Run the job's operation under its target's lease; a permanent failure becomes the answer."""
        started = time.monotonic()
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
            logger.info("job %s failed permanently: %s", job.job_id, exc)
            return exc.to_message(job)
        logger.info("job %s (%s) ran in %.0f ms", job.job_id, job.display, (time.monotonic() - started) * 1000)
        return message

    def _reply(self, *, key: dict[str, Any], job: JobEnvelope, message: SlackMessage) -> str:
        route = self.replier.send(job, message)
        logger.info("job %s answered via %s", job.job_id, route)
        return route

    def _give_up(self, job: JobEnvelope, body: str, exc: Exception, attempts: int) -> None:
        """Last allowed receive: tell the requester, then dead-letter the job with the reason."""
        reason = f"{type(exc).__name__}: {exc}"[:300]
        try:
            self.replier.send(job, messages.gave_up(job.display, job.short_id, attempts, reason))
        except Exception as notify_exc:
            reason += f" (the requester could not be told: {notify_exc!r})"[:300]
        logger.error("job %s: giving up after %d attempts: %s", job.job_id, attempts, reason)
        if self.dead_letters is None:
            raise exc  # the queue's redrive policy moves it on the next receive
        self.dead_letters.put(body, reason=reason, attempts=attempts)

    def _reject(self, body: str, reason: str, attempts: int) -> None:
        """A poison message goes to the DLQ at once; the requester is told when the envelope says who."""
        logger.error("rejecting a message that is not a job: %s", reason)
        target = reply_target_of(body)
        if target is not None:
            try:
                self.replier.send(target, messages.rejected(target.display, target.short_id, reason))
            except Exception as exc:
                reason += f" (the requester could not be told: {exc!r})"
        if self.dead_letters is None:
            raise JobFormatError(reason)
        self.dead_letters.put(body, reason=reason, attempts=attempts)
