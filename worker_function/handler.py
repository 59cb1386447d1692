"""Lambda entry point of the worker: an SQS batch, partial failures reported per message."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from shared.jobs import utcnow
from shared.settings import WorkerSettings
from worker_function.clients import AwsClients, slack_web_client
from worker_function.dead_letters import DeadLetters
from worker_function.dispatch import Dispatcher
from worker_function.leases import LeaseStore
from worker_function.operations import OperationContext
from worker_function.reply import SlackReplier

logger = Logger(service="opsbot-worker")


def build_dispatcher(settings: WorkerSettings, *, aws: AwsClients | None = None) -> Dispatcher:
    """Clients are built once per cold start and reused by every job."""
    aws = aws or AwsClients(settings)
    dynamodb = aws.client("dynamodb")
    return Dispatcher(
        OperationContext(settings=settings, aws=aws, now=utcnow, sleep=time.sleep),
        SlackReplier(
            slack_web_client(settings), local_mode=settings.local_mode, max_retries=settings.slack_max_retries
        ),
        leases=LeaseStore(settings.leases_table, client=dynamodb, ttl_s=settings.lease_ttl_s),
        # One persistence layer per idempotent step: Powertools configures each with its key prefix.
        run_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        reply_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        idempotency=IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_s),
        dead_letters=DeadLetters(settings.jobs_dlq_url, client=aws.client("sqs")) if settings.jobs_dlq_url else None,
        max_receive_count=settings.max_receive_count,
    )


_dispatcher = build_dispatcher(WorkerSettings.from_env())
_processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    _dispatcher.handle_record(record.body, int(record.attributes.approximate_receive_count))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _dispatcher.start_invocation(context)
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=_processor, context=context
    )
