"""One queue message in, one operation run, one answer to the requester."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shared import messages
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext, operation_for
from worker_function.reply import SlackReplier

logger = logging.getLogger(__name__)


@dataclass
class Dispatcher:
    ctx: OperationContext
    replier: SlackReplier

    def handle_message(self, body: str) -> JobEnvelope:
        """Parse, run and answer. Transient errors propagate so SQS delivers the message again."""
        job = JobEnvelope.from_message(body)
        message = self.run(job)
        route = self.replier.send(job, message)
        logger.info("job %s (%s) answered via %s", job.job_id, job.display, route)
        return job

    def run(self, job: JobEnvelope) -> SlackMessage:
        """Run the job's operation; a permanent failure becomes the requester's answer."""
        started = time.monotonic()
        try:
            message = operation_for(job.kind).run(job.args, job, self.ctx)
        except PermanentJobError as exc:
            logger.info("job %s failed permanently: %s", job.job_id, exc)
            return messages.job_failed(job.display, job.short_id, str(exc))
        logger.info("job %s ran in %.0f ms", job.job_id, (time.monotonic() - started) * 1000)
        return message
