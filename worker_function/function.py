"""The worker function's state across invocations: its dispatcher and clients, its SnapStart hooks, its batch loop.

Under SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start) the init runs once when a version is published
and every restored copy shares what it made. So the snapshot holds the code and the AWS SDK's data only
(`WorkerFunction.prime`: every operation's module, the service models and endpoint rules of the clients jobs
make), and what must be each copy's own is made after the restore (`after_restore`): a new boto3 Session
(credentials resolved then), new clients and connections, the bot token read then, and a fresh seed for
`random` (retry jitter).
"""

from __future__ import annotations

import random
from typing import Any

from shared.observability import function_logger
from shared.settings import WorkerSettings
from worker_function.alarms import AlarmFeed
from worker_function.app import build_alarm_feed, build_dispatcher
from worker_function.clients import AWS_CONFIG, AwsClients
from worker_function.dispatch import Dispatcher

logger = function_logger("opsbot-worker", "worker_function")

#: The services whose SDK data (model, endpoint rules) a snapshot holds: every job's (DynamoDB: idempotency, leases,
#: the registry), the queue's, and the operations' (a target's clients are made on first use, after the restore).
PRIMED_SERVICES = ("dynamodb", "sqs", "ecs", "ec2", "logs", "codebuild", "codepipeline", "sts")
#: The packages whose modules a snapshot imports: one module per operation (a cold start imports only the job's).
PRIMED_PACKAGES = ("worker_function.operations", "worker_function.control")


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
        """Import every operation and load what the clients load (service models, endpoint rules) into a loader the
        restored copies share. The clients made for it get placeholder keys: they resolve no credentials and are
        never called."""
        import importlib
        import pkgutil

        import boto3

        for name in PRIMED_PACKAGES:
            package = importlib.import_module(name)
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{name}.{module.name}")
        session = boto3.session.Session()
        for service in PRIMED_SERVICES:
            session.client(
                service,  # type: ignore[call-overload]
                region_name=self.settings.aws_region,
                endpoint_url=self.settings.service_endpoints.get(service, self.settings.aws_endpoint_url),
                config=AWS_CONFIG,
                aws_access_key_id="snapshot",
                aws_secret_access_key="snapshot",
            )
        self._loader = session._session.get_component("data_loader")

    def after_restore(self) -> None:
        random.seed()  # every restored copy would otherwise draw the snapshot's numbers
        self.build()

    def handle_record(self, record: dict[str, Any]) -> None:
        """One SQS record: a CloudWatch alarm (SNS -> SQS, shown in its channel) or a job."""
        assert self.dispatcher is not None and self.alarms is not None, "init() or after_restore() first"
        body = str(record["body"])
        if self.alarms.handle(body):
            return
        self.dispatcher.handle_record(body, int(record["attributes"]["ApproximateReceiveCount"]))

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The batch's records one after another; the ones that raised are reported for SQS to deliver again
        (ReportBatchItemFailures), the others are deleted. A failed job is not a failed invocation."""
        assert self.dispatcher is not None, "after_restore() first"
        self.dispatcher.start_invocation(context)
        failures = []
        for record in event.get("Records", []):
            try:
                self.handle_record(record)
            except Exception:
                logger.exception(
                    "a record failed; SQS delivers it again", extra={"message_id": record.get("messageId")}
                )
                failures.append({"itemIdentifier": record.get("messageId", "")})
        return {"batchItemFailures": failures}
