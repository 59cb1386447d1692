"""Typed settings, read once per cold start. The only module that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import SettingsError
from shared.holds import LOCK_TTL_S

#: How many receives a job gets before SQS moves it to the DLQ. The queue's redrive policy
#: (local stack and CDK) and the worker's "last attempt" check both read this one constant.
MAX_RECEIVE_COUNT = 3

#: The worker Lambda's timeout. Long operations run as short steps (continuations), so this stays small.
WORKER_TIMEOUT_SECONDS = 120
#: The SQS event source of the worker (infra/aws/worker.py; the local stack's pollers and bench/answer.py use them).
#: One job per invocation: jobs of a batch would run one after another inside one invocation, so a slow job could
#: time out (and re-run) the others; parallelism comes from the maximum concurrency.
WORKER_BATCH_SIZE = 1
#: How many worker invocations the queue may drive at once (SQS allows 2..1000): bench/answer.py's burst.
WORKER_MAX_CONCURRENCY = 5

#: SQS + Lambda: the queue's visibility timeout must be at least 6x the function timeout
#: (docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
QUEUE_VISIBILITY_TIMEOUT_SECONDS = 6 * WORKER_TIMEOUT_SECONDS

#: How long a step may look again within itself before it re-queues (WorkerSettings.inline_wait_s).
INLINE_WAIT_SECONDS = 8.0

#: Names of the DynamoDB tables, overridable per deployment through the environment.
IDEMPOTENCY_TABLE = "opsbot-idempotency"
LEASES_TABLE = "opsbot-leases"
AUDIT_TABLE = "opsbot-audit"
#: The leases table's index over job records (partition `registry`, sort `job_id`; worker_function/store/jobs.py).
JOBS_INDEX = "jobs"
#: How long audit records are kept (the table's TTL attribute `expires_at`).
AUDIT_RETENTION_DAYS = 90

#: SQS DelaySeconds is at most 900 (15 minutes) per message.
MAX_DELAY_SECONDS = 900

#: Set in every function's environment (CDK) and in the benchmarks' Lambda-like processes: without it pydantic
#: looks through every installed distribution's entry points for plugins when it builds the first model, a
#: few ms of every cold start for plugins opsbot never uses (docs.pydantic.dev: PYDANTIC_DISABLE_PLUGINS).
FUNCTION_ENVIRONMENT = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}

#: Slack's response_url lasts 30 minutes and 5 uses (api.slack.com/interactivity/handling#message_responses).
RESPONSE_URL_TTL_SECONDS = 30 * 60
RESPONSE_URL_MAX_USES = 5


class _EnvSettings(BaseModel):
    # Built on first use: each function builds only its own settings model (at init, by from_env).
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build from environment variables (each field's alias is its variable's name)."""
        env: Mapping[str, Any] = os.environ if environ is None else environ
        try:
            return cls.model_validate({k: v for k, v in env.items() if v != ""})
        except ValidationError as exc:
            problems = "; ".join(f"{'/'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
            raise SettingsError(f"{cls.__name__} is invalid: {problems}") from None


class AwsSettings(_EnvSettings):
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region")
    )
    #: moto server or any other endpoint; unset on AWS.
    aws_endpoint_url: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL"))
    #: "snap-start" while Lambda initialises a SnapStart snapshot: secrets, credentials and connections are
    #: made after restore instead.
    initialization_type: str = Field(
        default="on-demand", validation_alias=AliasChoices("AWS_LAMBDA_INITIALIZATION_TYPE", "initialization_type")
    )


class AckSettings(AwsSettings):
    """What the ack function needs: the signing secret (or the secret holding it) and where to queue.
    No bot token."""

    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    #: Secrets Manager secret with `signing_secret` (and the worker's `bot_token`), used when
    #: SLACK_SIGNING_SECRET is not set (on AWS).
    secret_arn: str | None = Field(default=None, validation_alias=AliasChoices("OPSBOT_SECRET_ARN", "secret_arn"))
    jobs_queue_url: str = Field(min_length=1, validation_alias=AliasChoices("JOBS_QUEUE_URL", "jobs_queue_url"))
    #: Bounds on the one network call of the ack path (SendMessage). Worst case connect + read
    #: stays well inside Slack's 3 s, leaving room for a cold start.
    enqueue_connect_timeout_s: float = Field(
        default=0.5,
        gt=0,
        le=1.0,
        validation_alias=AliasChoices("OPSBOT_ENQUEUE_CONNECT_TIMEOUT", "enqueue_connect_timeout_s"),
    )
    enqueue_read_timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=1.5,
        validation_alias=AliasChoices("OPSBOT_ENQUEUE_READ_TIMEOUT", "enqueue_read_timeout_s"),
    )

    #: The inventory file (with its `[policy]`), read once at init: the ack refuses from static lists what
    #: the policy denies (no network). Unset: the worker alone applies the policy.
    inventory_path: str | None = Field(
        default=None, validation_alias=AliasChoices("OPSBOT_INVENTORY", "inventory_path")
    )

    @model_validator(mode="after")
    def _a_signing_secret_is_configured(self) -> AckSettings:
        if self.slack_signing_secret is None and self.secret_arn is None:
            raise ValueError("set SLACK_SIGNING_SECRET, or OPSBOT_SECRET_ARN naming the secret that holds it")
        return self


class WorkerSettings(AwsSettings):
    """What the worker needs to run operations and answer in Slack."""

    jobs_queue_url: str = Field(min_length=1, validation_alias=AliasChoices("JOBS_QUEUE_URL", "jobs_queue_url"))
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    secret_arn: str | None = Field(default=None, validation_alias=AliasChoices("OPSBOT_SECRET_ARN", "secret_arn"))
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url")
    )
    #: Local mode accepts a response_url on loopback (the local Slack API); on AWS only Slack's hosts.
    local_mode: bool = Field(default=False, validation_alias=AliasChoices("OPSBOT_LOCAL_MODE", "local_mode"))
    ecs_cluster: str = Field(default="opsbot-demo", validation_alias=AliasChoices("OPSBOT_ECS_CLUSTER", "ecs_cluster"))
    jobs_dlq_url: str | None = Field(default=None, validation_alias=AliasChoices("JOBS_DLQ_URL", "jobs_dlq_url"))
    idempotency_table: str = Field(
        default=IDEMPOTENCY_TABLE, validation_alias=AliasChoices("OPSBOT_IDEMPOTENCY_TABLE", "idempotency_table")
    )
    leases_table: str = Field(
        default=LEASES_TABLE, validation_alias=AliasChoices("OPSBOT_LEASES_TABLE", "leases_table")
    )
    audit_table: str = Field(default=AUDIT_TABLE, validation_alias=AliasChoices("OPSBOT_AUDIT_TABLE", "audit_table"))
    audit_retention_days: int = Field(
        default=AUDIT_RETENTION_DAYS,
        ge=1,
        validation_alias=AliasChoices("OPSBOT_AUDIT_RETENTION_DAYS", "audit_retention_days"),
    )
    #: How long a finished job's record (and result) is kept to recognise duplicates: at least 1 h.
    idempotency_ttl_s: int = Field(
        default=3600, ge=3600, validation_alias=AliasChoices("OPSBOT_IDEMPOTENCY_TTL", "idempotency_ttl_s")
    )
    #: A lease left by a crashed worker expires by itself after this long.
    lease_ttl_s: int = Field(default=300, ge=30, validation_alias=AliasChoices("OPSBOT_LEASE_TTL", "lease_ttl_s"))
    #: A person's lock (`/ops-lock`) stands until lifted, or lapses after this long (24 h; at most 30 days).
    lock_ttl_s: int = Field(
        default=LOCK_TTL_S, ge=60, le=30 * 86400, validation_alias=AliasChoices("OPSBOT_LOCK_TTL", "lock_ttl_s")
    )
    max_receive_count: int = Field(
        default=MAX_RECEIVE_COUNT, ge=1, validation_alias=AliasChoices("OPSBOT_MAX_RECEIVE_COUNT", "max_receive_count")
    )
    #: Bounded retries for Slack calls (429 honours Retry-After; 500/503 back off).
    slack_max_retries: int = Field(
        default=2, ge=0, le=5, validation_alias=AliasChoices("OPSBOT_SLACK_MAX_RETRIES", "slack_max_retries")
    )
    #: The inventory file (TOML, see shared/inventory.py), read once per cold start.
    inventory_path: str | None = Field(
        default=None, validation_alias=AliasChoices("OPSBOT_INVENTORY", "inventory_path")
    )
    #: Per-service endpoints ("codebuild=http://127.0.0.1:4567,codepipeline=..."): local stand-ins for
    #: what moto does not play; unset on AWS.
    service_endpoints: dict[str, str] = Field(
        default_factory=dict, validation_alias=AliasChoices("OPSBOT_SERVICE_ENDPOINTS", "service_endpoints")
    )
    #: The state machine of each runbook the stack deploys from a definition file (`{"restart-safely": ARN}`, JSON):
    #: set by the CDK app (and the local stack); runbooks naming an existing state machine carry their own ARN.
    runbook_arns: dict[str, str] = Field(
        default_factory=dict, validation_alias=AliasChoices("OPSBOT_RUNBOOK_ARNS", "runbook_arns")
    )
    #: Seconds between two looks at something a step waits for (a rollout, a build). Long jobs are
    #: re-queued with this delay: no Lambda waits idle.
    poll_interval_s: float = Field(
        default=30.0,
        ge=0,
        le=MAX_DELAY_SECONDS,
        validation_alias=AliasChoices("OPSBOT_POLL_INTERVAL", "poll_interval_s"),
    )
    #: A step may look again within itself for this long before it re-queues (short waits, e.g. a Logs
    #: Insights query, then finish in one message).
    inline_wait_s: float = Field(
        default=INLINE_WAIT_SECONDS, ge=0, le=60, validation_alias=AliasChoices("OPSBOT_INLINE_WAIT", "inline_wait_s")
    )
    #: The DelaySeconds cap of a re-queued step (SQS allows 0..900).
    max_delay_s: int = Field(
        default=MAX_DELAY_SECONDS,
        ge=0,
        le=MAX_DELAY_SECONDS,
        validation_alias=AliasChoices("OPSBOT_MAX_DELAY", "max_delay_s"),
    )
    jenkins_url: str | None = Field(default=None, validation_alias=AliasChoices("JENKINS_URL", "jenkins_url"))
    jenkins_user: str | None = Field(default=None, validation_alias=AliasChoices("JENKINS_USER", "jenkins_user"))
    jenkins_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("JENKINS_API_TOKEN", "jenkins_api_token")
    )

    @field_validator("runbook_arns", mode="before")
    @classmethod
    def _runbook_arns_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json  # only with runbooks

            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"expected a JSON object of runbook names to ARNs: {exc}") from None
        return value

    @field_validator("service_endpoints", mode="before")
    @classmethod
    def _endpoints_from_text(cls, value: Any) -> Any:
        """`name=url,name=url` from the environment."""
        if isinstance(value, str):
            pairs = [p.partition("=") for p in value.split(",") if p.strip()]
            if any(not eq for _, eq, _ in pairs):
                raise ValueError("expected service=url pairs separated by commas")
            return {name.strip(): url.strip() for name, _, url in pairs}
        return value
