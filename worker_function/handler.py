"""Lambda entry point of the worker: an SQS batch, partial failures reported per message.

Under SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start) the init runs once when a version is published
and every restored copy shares what it made. So the snapshot holds the code and the AWS SDK's data only
(`WorkerFunction.prime`: the service models and endpoint rules every job's clients load), and what must be
each copy's own is made after the restore (`after_restore`): a new boto3 Session (credentials resolved then),
new clients and connections, the bot token read then, and a fresh seed for `random` (retry jitter).
"""

from __future__ import annotations

import random
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.observability import function_logger
from shared.settings import WorkerSettings
from worker_function.alarms import AlarmFeed
from worker_function.app import build_alarm_feed, build_dispatcher
from worker_function.clients import AWS_CONFIG, AwsClients
from worker_function.dispatch import Dispatcher

logger = function_logger("opsbot-worker", "worker_function")

#: The clients every job makes (Powertools idempotency, leases, the registry: DynamoDB), loaded into the snapshot.
PRIMED_SERVICES = ("dynamodb",)


class WorkerFunction:
    """The worker's state across invocations: the dispatcher and the alarm feed, with their clients."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.dispatcher: Dispatcher | None = None
        self.alarms: AlarmFeed | None = None
        self._loader: Any = None

    def init(self) -> WorkerFunction:
        if self.settings.initialization_type == "snap-start":
            self.prime()  # nothing that must be a copy's own: after_restore() builds it
        else:
            self.build()
        return self

    def build(self) -> None:
        """The dispatcher and the alarm feed, on a new boto3 Session (new credentials and connections); the SDK's
        data comes from the primed loader when there is one."""
        import boto3
        import botocore.session

        core = botocore.session.Session()
        if self._loader is not None:
            core.register_component("data_loader", self._loader)
        aws = AwsClients(self.settings, session=boto3.session.Session(botocore_session=core))
        self.dispatcher = build_dispatcher(self.settings, aws=aws)
        self.alarms = build_alarm_feed(self.settings, self.dispatcher)

    def prime(self) -> None:
        """Load what every job's clients load (service models, endpoint rules) into a loader the restored copies
        share. The client made for it gets placeholder keys: it resolves no credentials and is never called."""
        import boto3

        session = boto3.session.Session()
        for service in PRIMED_SERVICES:
            session.client(
                service,  # type: ignore[call-overload]
                region_name=self.settings.aws_region,
                endpoint_url=self.settings.service_endpoints.get(service, self.settings.aws_endpoint_url),
                config=AWS_CONFIG,
                aws_access_key_id="snapshot",
                aws_secret_access_key="snapshot",  # noqa: S106 (a placeholder: this client never calls)
            )
        self._loader = session._session.get_component("data_loader")

    def after_restore(self) -> None:
        random.seed()  # every restored copy would otherwise draw the snapshot's numbers
        self.build()

    def handle_record(self, record: SQSRecord) -> None:
        """One record: a CloudWatch alarm (SNS -> SQS, shown in its channel) or a job."""
        assert self.dispatcher is not None and self.alarms is not None, "init() or after_restore() first"
        if self.alarms.handle(record.body):
            return
        self.dispatcher.handle_record(record.body, int(record.attributes.approximate_receive_count))


def _init() -> WorkerFunction:
    function = WorkerFunction(WorkerSettings.from_env()).init()
    try:
        from snapshot_restore_py import register_after_restore  # in the Lambda runtime with SnapStart
    except ImportError:
        return function
    register_after_restore(function.after_restore)
    return function


_function = _init()
_processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    _function.handle_record(record)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    assert _function.dispatcher is not None, "after_restore() first"
    _function.dispatcher.start_invocation(context)
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=_processor, context=context
    )
