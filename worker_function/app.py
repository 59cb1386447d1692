"""Wiring of the worker: settings in, a dispatcher with all its clients out (built once per cold start)."""

from __future__ import annotations

import time

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from shared.jobs import utcnow
from shared.observability import function_metrics
from shared.secrets import load_slack_secrets
from shared.settings import WorkerSettings
from worker_function.clients import AwsClients, slack_web_client
from worker_function.dead_letters import DeadLetters
from worker_function.dispatch import Dispatcher
from worker_function.leases import LeaseStore
from worker_function.operations import OperationContext
from worker_function.reply import SlackReplier


def bot_token(settings: WorkerSettings, aws: AwsClients) -> str | None:
    """SLACK_BOT_TOKEN locally; on AWS the `bot_token` of the Slack secret (read at cold start)."""
    if settings.slack_bot_token is not None:
        return settings.slack_bot_token.get_secret_value()
    if settings.secret_arn is None:
        return None
    token = load_slack_secrets(settings.secret_arn, client=aws.client("secretsmanager")).bot_token
    return token.get_secret_value() if token else None


def build_dispatcher(settings: WorkerSettings, *, aws: AwsClients | None = None) -> Dispatcher:
    aws = aws or AwsClients(settings)
    dynamodb = aws.client("dynamodb")
    return Dispatcher(
        OperationContext(settings=settings, aws=aws, now=utcnow, sleep=time.sleep),
        SlackReplier(
            slack_web_client(settings, bot_token(settings, aws)),
            local_mode=settings.local_mode,
            max_retries=settings.slack_max_retries,
        ),
        leases=LeaseStore(settings.leases_table, client=dynamodb, ttl_s=settings.lease_ttl_s),
        # One persistence layer per idempotent step: Powertools configures each with its key prefix.
        run_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        reply_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        idempotency=IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_s),
        dead_letters=DeadLetters(settings.jobs_dlq_url, client=aws.client("sqs")) if settings.jobs_dlq_url else None,
        max_receive_count=settings.max_receive_count,
        metrics=function_metrics("opsbot-worker"),
    )
