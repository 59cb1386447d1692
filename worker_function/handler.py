"""Lambda entry point of the worker: an SQS batch, partial failures reported per message."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.jobs import utcnow
from shared.settings import WorkerSettings
from worker_function.clients import AwsClients, slack_web_client
from worker_function.dispatch import Dispatcher
from worker_function.operations import OperationContext
from worker_function.reply import SlackReplier

logger = Logger(service="opsbot-worker")


def build_dispatcher(settings: WorkerSettings) -> Dispatcher:
    """Clients are built once per cold start and reused by every job."""
    ctx = OperationContext(settings=settings, aws=AwsClients(settings), now=utcnow, sleep=time.sleep)
    replier = SlackReplier(
        slack_web_client(settings), local_mode=settings.local_mode, max_retries=settings.slack_max_retries
    )
    return Dispatcher(ctx=ctx, replier=replier)


_dispatcher = build_dispatcher(WorkerSettings.from_env())
_processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    job = _dispatcher.handle_message(record.body)
    logger.append_keys(job_id=job.job_id)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=_processor, context=context
    )
