"""Wiring of the worker: settings in, a dispatcher with all its clients out (built once per cold start)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from shared.inventory import Inventory, load_inventory
from shared.jobs import utcnow
from shared.observability import function_metrics
from shared.queue import SqsJobQueue
from shared.settings import WorkerSettings
from worker_function.accounts import TargetAccounts
from worker_function.clients import AwsClients, jenkins_client, slack_web_client
from worker_function.dispatch import Dispatcher
from worker_function.errors import PermanentJobError, TransientJobError
from worker_function.groups import UserGroups
from worker_function.operations import OperationContext, no_jenkins
from worker_function.operations.registry import operation_for
from worker_function.pacing import Deferrals
from worker_function.pipeline import IDEMPOTENCY_KEY_JMESPATH, PAYLOAD_JMESPATH
from worker_function.reply import SlackReplier
from worker_function.store.audit import AuditLog
from worker_function.store.dead_letters import DeadLetters
from worker_function.store.decisions import Decisions
from worker_function.store.holds import HoldStore
from worker_function.store.intents import DynamoIntents
from worker_function.store.jobs import DynamoJobs
from worker_function.store.leases import LeaseStore
from worker_function.store.url_sends import ResponseUrlSends

if TYPE_CHECKING:
    from worker_function.alarms import AlarmFeed

#: Bounds on each of the (at most two) attempts of the bot token's read (a container's first Web API call).
SECRET_CONNECT_TIMEOUT_S = 2.0
SECRET_READ_TIMEOUT_S = 5.0


def bot_token(settings: WorkerSettings, aws: AwsClients) -> str | None:
    """SLACK_BOT_TOKEN locally; on AWS the `bot_token` of the Slack secret (read by the first Web API call of a
    container, or of a SnapStart copy), with one GetSecretValue through `shared.aws_json` as the ack reads it: a boto3
    Secrets Manager client would cost the SDK's model of a service no job calls."""
    if settings.slack_bot_token is not None:
        return settings.slack_bot_token.get_secret_value()
    if settings.secret_arn is None:
        return None
    from shared.aws_json import Credentials, SecretsManagerClient, credentials_from_environment
    from shared.secrets import read_slack_secrets  # with the secret's read: a job may never need it

    def session_credentials() -> Credentials:
        """The credentials of the workers' boto3 Session (the same chain: the environment on Lambda)."""
        frozen = aws.session.get_credentials().get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    client = SecretsManagerClient(
        settings.aws_region,
        endpoint_url=settings.service_endpoints.get("secretsmanager", settings.aws_endpoint_url),
        connect_timeout=SECRET_CONNECT_TIMEOUT_S,
        read_timeout=SECRET_READ_TIMEOUT_S,
        credentials=session_credentials if aws.session is not None else credentials_from_environment,
    )
    try:
        token = read_slack_secrets(settings.secret_arn, client=client).bot_token
    finally:
        client.close()
    return token.get_secret_value() if token else None


def bot_token_source(settings: WorkerSettings, aws: AwsClients) -> Callable[[], str | None]:
    """`bot_token` for the Slack client to call when a Web API call first needs the token; a failed read is a
    `TransientJobError` (SQS delivers the job again), as a failed read at a cold start was a failed init."""

    def read() -> str | None:
        try:
            return bot_token(settings, aws)
        except Exception as exc:
            raise TransientJobError(f"the Slack bot token could not be read: {exc}") from exc

    return read


def with_jenkins_credentials(settings: WorkerSettings, aws: AwsClients) -> WorkerSettings:
    """JENKINS_USER / JENKINS_API_TOKEN locally; on AWS `jenkins_user` / `jenkins_api_token` of the secret.

    Read when the first /ops-build of this container builds its Jenkins client, not at cold start: jobs
    that never call Jenkins do not pay for it.
    """
    if settings.jenkins_api_token is not None or settings.secret_arn is None:
        return settings
    from shared.secrets import load_slack_secrets

    secrets = load_slack_secrets(settings.secret_arn, client=aws.client("secretsmanager"))
    if secrets.jenkins_api_token is None:
        raise PermanentJobError(
            f"no Jenkins API token: put jenkins_user and jenkins_api_token in the secret {settings.secret_arn}"
        )
    return settings.model_copy(
        update={
            "jenkins_user": settings.jenkins_user or secrets.jenkins_user,
            "jenkins_api_token": secrets.jenkins_api_token,
        }
    )


def jenkins_client_from_secret(settings: WorkerSettings, aws: AwsClients) -> Any:
    """The Jenkins client, with the credentials read on first use (the dispatcher's Jenkins factory)."""
    return jenkins_client(with_jenkins_credentials(settings, aws))


def build_alarm_feed(settings: WorkerSettings, dispatcher: Dispatcher) -> AlarmFeed:
    """The alarm poster beside the executor, on the same inventory, Slack client, leases table, dead letters
    and metrics. Its modules are imported here: by the first alarm, or before a SnapStart snapshot."""
    from worker_function.alarms import AlarmFeed, DynamoAlarmStore

    dynamodb = dispatcher.ctx.aws.client("dynamodb")
    store = DynamoAlarmStore(settings.leases_table, client=dynamodb)
    return AlarmFeed(
        dispatcher.ctx.inventory,
        dispatcher.ctx.slack,
        store,
        dead_letters=dispatcher.dead_letters,
        metrics=dispatcher.metrics,
        requeues=dispatcher.requeues,
        again=build_deferrals(settings, dispatcher),
    )


def build_deferrals(settings: WorkerSettings, dispatcher: Dispatcher) -> Deferrals:
    """Where a rate-limited message goes back: the jobs queue, through the worker's SQS client, its delay capped
    as a re-queued step's is (`max_delay_s`)."""
    return Deferrals(settings.jobs_queue_url, client=dispatcher.ctx.aws.lazy("sqs"), max_delay_s=settings.max_delay_s)


def build_dispatcher(
    settings: WorkerSettings,
    *,
    aws: AwsClients | None = None,
    inventory: Inventory | None = None,
    jenkins: Callable[[], Any] | None = None,
    now: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    web: WebClient | None = None,
    webhook: Callable[[str], WebhookClient] | None = None,
    operations: Callable[[str], Any] = operation_for,
) -> Dispatcher:
    """The worker as Lambda runs it. The inventory file is read here, once per cold start; tests pass
    their own inventory, Jenkins client factory, clock (and operations)."""
    aws = aws or AwsClients(settings)
    dynamodb = aws.client("dynamodb")
    if inventory is None:
        inventory = load_inventory(settings.inventory_path) if settings.inventory_path else Inventory()
    if jenkins is None:
        jenkins = partial(jenkins_client_from_secret, settings, aws) if settings.jenkins_url else no_jenkins
    web = web or slack_web_client(settings, None, token_source=bot_token_source(settings, aws))
    audit = AuditLog(settings.audit_table, client=dynamodb, retention_days=settings.audit_retention_days, now=now)
    # Waiting jobs go back on their own queue with a delay (the worker's client: bounded, retried).
    # Made on its first call: only waiting jobs and approvals send (and the DLQ's client is the same one).
    sqs = aws.lazy("sqs")
    queue = SqsJobQueue(settings.jobs_queue_url, client=sqs)
    # One user-group cache per container, for the dispatcher's policy checks and the operations alike.
    groups = UserGroups(web)
    leases = LeaseStore(settings.leases_table, client=dynamodb, ttl_s=settings.lease_ttl_s)
    return Dispatcher(
        OperationContext(
            settings=settings,
            aws=aws,
            now=now,
            sleep=sleep,
            intents=DynamoIntents(settings.leases_table, client=dynamodb, now=lambda: now().timestamp()),
            inventory=inventory,
            jenkins_factory=jenkins,
            audit=audit,
            slack=web,
            decisions=Decisions(settings.leases_table, client=dynamodb, now=lambda: now().timestamp()),
            queue=queue,
            groups=groups,
            jobs=DynamoJobs(settings.leases_table, client=dynamodb, now=lambda: now().timestamp()),
            # Each target's clients: its account's (AssumeRole) and region, else these same `aws` clients.
            accounts=TargetAccounts(settings, own=aws),
            leases=leases,
            holds=HoldStore(
                settings.leases_table, client=dynamodb, lock_ttl_s=settings.lock_ttl_s, now=lambda: now().timestamp()
            ),
        ),
        SlackReplier(
            web,
            local_mode=settings.local_mode,
            max_retries=settings.slack_max_retries,
            now=now,
            webhook=webhook,
            url_sends=ResponseUrlSends(settings.leases_table, client=dynamodb, now=lambda: now().timestamp()).count,
        ),
        leases=leases,
        # One persistence layer per idempotent step: Powertools configures each with its key prefix.
        run_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        reply_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        idempotency=IdempotencyConfig(
            event_key_jmespath=IDEMPOTENCY_KEY_JMESPATH,
            payload_validation_jmespath=PAYLOAD_JMESPATH,
            expires_after_seconds=settings.idempotency_ttl_s,
        ),
        dead_letters=DeadLetters(settings.jobs_dlq_url, client=sqs) if settings.jobs_dlq_url else None,
        max_receive_count=settings.max_receive_count,
        metrics=function_metrics("opsbot-worker"),
        queue=queue,
        max_delay_s=settings.max_delay_s,
        audit=audit,
        operations=operations,
    )
