"""The worker function's state across invocations: its dispatcher and clients, its SnapStart hooks, its batch loop.

Under SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start) the init runs once when a version is published
and every restored copy shares what it made. So the snapshot holds what every copy may share: the code (every
operation's module), the dispatcher and its clients with the AWS SDK's data loaded (`WorkerFunction.prime`), but
no credentials (resolved by a client's first signed request), no connection (opened by its first call) and no
bot token (read by the first Web API call). `after_restore` gives each copy its own: a fresh seed for `random`
(retry jitter); its first requests resolve its credentials, open its connections and read the bot token.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.alarm_events import is_alarm_body
from shared.commands.registry import prime as prime_commands
from shared.observability import function_logger
from shared.settings import WorkerSettings
from worker_function.app import bot_token_source, build_alarm_feed, build_deferrals, build_dispatcher
from worker_function.clients import AwsClients, aws_session, slack_web_client
from worker_function.dispatch import Dispatcher
from worker_function.operations.registry import check_all, check_present
from worker_function.pacing import Deferrals, handle_message
from worker_function.slack_http import PooledWebClient, default_tls

if TYPE_CHECKING:
    from worker_function.alarms import AlarmFeed

logger = function_logger("opsbot-worker", "worker_function")

#: The services whose SDK data (model, endpoint rules) a snapshot holds: every job's (DynamoDB: idempotency, leases,
#: the registry), the queue's, and the operations' (a target's clients are made on first use, after the restore).
PRIMED_SERVICES = ("dynamodb", "sqs", "ecs", "ec2", "logs", "codebuild", "codepipeline", "sts")
#: The services whose every operation's shapes a snapshot holds parsed (EC2's hundreds are left to a first call).
PRIMED_OPERATIONS = ("dynamodb", "sqs", "ecs", "logs", "codebuild", "codepipeline", "sts")


def credentials_on_first_use() -> Any:
    """A botocore Session whose credentials botocore's default chain resolves when a client first signs a request,
    not when the client is made: clients made in a snapshot hold none, and each restored copy resolves its own."""
    import botocore.session
    from botocore.credentials import (
        CredentialProvider,
        CredentialResolver,
        DeferredRefreshableCredentials,
        create_credential_resolver,
    )
    from botocore.exceptions import NoCredentialsError

    chain = create_credential_resolver(botocore.session.Session())

    def resolve() -> dict[str, Any]:
        found = chain.load_credentials()
        if found is None:
            raise NoCredentialsError()
        frozen = found.get_frozen_credentials()
        # Keys from the environment do not expire; the container endpoint's do, and are fetched again before then.
        expiry = getattr(found, "_expiry_time", None) or datetime.now(UTC) + timedelta(days=365)
        return {
            "access_key": frozen.access_key,
            "secret_key": frozen.secret_key,
            "token": frozen.token,
            "expiry_time": expiry.isoformat(),
        }

    class OnFirstUse(CredentialProvider):
        METHOD = "on-first-use"

        def load(self) -> DeferredRefreshableCredentials:
            return DeferredRefreshableCredentials(resolve, self.METHOD)

    session = botocore.session.Session()
    session.register_component("credential_provider", CredentialResolver([OnFirstUse()]))
    return session


class AlarmsOnFirstUse:
    """The alarm feed, built (its models and wording imported) when the first alarm arrives: a container that only
    runs jobs never loads it. `handle` as `AlarmFeed.handle`."""

    def __init__(self, build: Callable[[], AlarmFeed]) -> None:
        self._build = build
        self.feed: AlarmFeed | None = None

    def load(self) -> AlarmFeed:
        if self.feed is None:
            self.feed = self._build()
        return self.feed

    def handle(self, body: str, receive_count: int = 1, attributes: Mapping[str, Any] | None = None) -> bool:
        if self.feed is None:
            try:
                data = json.loads(body)
            except ValueError:
                return False
            if not is_alarm_body(data):
                return False
        return self.load().handle(body, receive_count, attributes)


class WorkerFunction:
    """The worker's state across invocations: the dispatcher and the alarm feed, with their clients."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.dispatcher: Dispatcher | None = None
        self.alarms: AlarmsOnFirstUse | None = None
        #: Where a message Slack rate-limited for longer than is worth waiting goes back, with that delay.
        self.deferrals: Deferrals | None = None
        self.web: PooledWebClient | None = None

    def init(self) -> WorkerFunction:
        if self.settings.initialization_type == "snap-start":
            self.prime()  # nothing that must be a copy's own: after_restore() reads or resolves it
        else:
            check_present()  # every command has its operation (each is imported and checked by its first job)
            self.build()
        return self

    def build(self, session: Any = None) -> None:
        """The dispatcher with its clients (on `session`, else a new boto3 Session), the alarm feed (built by the first
        alarm), and the Slack client, which reads the bot token when a job first calls the Web API (`bot_token`)."""
        aws = AwsClients(self.settings, session=session or aws_session())
        self.web = slack_web_client(self.settings, None, token_source=bot_token_source(self.settings, aws))
        self.dispatcher = build_dispatcher(self.settings, aws=aws, web=self.web)
        self.alarms = AlarmsOnFirstUse(partial(build_alarm_feed, self.settings, self.dispatcher))
        self.deferrals = build_deferrals(self.settings, self.dispatcher)

    def prime(self) -> None:
        """The snapshot: every operation imported and checked (`registry.check_all`), the dispatcher and the alarm
        feed built with every client jobs make (their SDK data loaded), on a Session whose credentials are resolved
        when a client first signs a request (in a restored copy, never in the snapshot), and Slack's TLS context.
        Nothing is called: no connection is opened, no secret read."""
        check_all(source=False)  # the source rules are checked at synth (reading the SDK's models takes a while)
        prime_commands()  # every job args model built (each is built when it first validates otherwise)
        self.build(aws_session(credentials_on_first_use()))
        default_tls()  # Slack's TLS context with the CA bundle loaded, as botocore's clients hold theirs
        assert self.dispatcher is not None and self.alarms is not None
        self.alarms.load()
        for service in PRIMED_SERVICES:
            model = self.dispatcher.ctx.aws.client(service).meta.service_model
            if service in PRIMED_OPERATIONS:  # what a first call would parse: its operation's shapes
                for operation in model.operation_names:
                    parsed = model.operation_model(operation)
                    _ = (parsed.input_shape, parsed.output_shape)

    def after_restore(self) -> None:
        """In each restored copy: a fresh seed for `random` (retry jitter), and the bot token forgotten, so that the
        copy's first Web API call reads it (it may have been set or rotated since the snapshot). Credentials are
        resolved by the first signed request, connections opened by the first call: all this copy's own."""
        random.seed()
        assert self.web is not None, "prime() first"
        self.web.forget_token()

    def handle_record(self, record: dict[str, Any]) -> None:
        """One SQS record: a CloudWatch alarm (SNS -> SQS, shown in its channel) or a job; a long Slack rate limit
        defers it without spending a receive (`pacing.handle_message`)."""
        assert self.dispatcher is not None and self.alarms is not None and self.deferrals is not None, "init() first"
        handle_message(
            str(record["body"]),
            int(record["attributes"]["ApproximateReceiveCount"]),
            record.get("messageAttributes"),
            alarms=self.alarms,
            jobs=self.dispatcher,
            deferrals=self.deferrals,
        )

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
