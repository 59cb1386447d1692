"""Lambda entry point of the worker: an SQS batch, partial failures reported per message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.observability import function_logger
from shared.settings import WorkerSettings
from worker_function.app import build_alarm_feed, build_deferrals, build_dispatcher
from worker_function.pacing import handle_message

_settings = WorkerSettings.from_env()
_dispatcher = build_dispatcher(_settings)
#: CloudWatch alarms arrive on the same queue (SNS -> SQS): shown in their channel, not run as jobs.
_alarms = build_alarm_feed(_settings, _dispatcher)
#: A message Slack rate-limited for longer than is worth waiting goes back on the queue with that delay.
_deferrals = build_deferrals(_settings, _dispatcher)
_processor = BatchProcessor(event_type=EventType.SQS)
logger = function_logger("opsbot-worker", "worker_function")


def record_handler(record: SQSRecord) -> None:
    """One message: an alarm or a job (a long Slack rate limit defers it without spending a receive)."""
    handle_message(
        record.body,
        int(record.attributes.approximate_receive_count),
        record.raw_event.get("messageAttributes"),
        alarms=_alarms,
        jobs=_dispatcher,
        deferrals=_deferrals,
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _dispatcher.start_invocation(context)
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=_processor, context=context
    )
