"""The worker: a Lambda function on the jobs queue, with exactly the permissions its operations use."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.aws.bundling import LAMBDA_TASK_ROOT
from infra.aws.functions import WORKER_SERVICE, OpsbotFunction
from infra.aws.nag import acknowledge_warning
from infra.aws.worker_permissions import (
    ASSUME_ROLE_ACTIONS,
    InventoryResources,
    OperationPermissions,
    operation_permissions,
    placements,
)
from shared.deployment import DEPLOYED_TIMING
from shared.inventory import Inventory, inventory_json
from shared.settings import (
    JOBS_INDEX,
    WORKER_BATCH_SIZE,
    WORKER_MAX_CONCURRENCY,
)

#: One job per invocation. Jobs of a batch run one after another inside one invocation, so a batch
#: must finish within WORKER_TIMEOUT_SECONDS; one job per invocation gives every job the whole
#: timeout and keeps a slow job from timing out (and re-running) the others. At ChatOps volumes
#: batching saves nothing; parallelism comes from MAX_CONCURRENCY.
BATCH_SIZE = WORKER_BATCH_SIZE
#: How many worker invocations the queue may drive at once (SQS event source maximum concurrency; the figure that
#: chose it: the burst of bench/answer.py).
MAX_CONCURRENCY = WORKER_MAX_CONCURRENCY
WORKER_MEMORY_MB = 512
#: The alias the event source invokes (SnapStart applies to published versions only).
LIVE_ALIAS = "live"

#: The SQS event source mapping polls with the function's role
#: (docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions).
CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")
#: Item-level DynamoDB actions used by Powertools idempotency and the lease store.
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
#: Locks and freezes (worker_function/store/holds.py): a mutating job's lock and freeze in one read, and every
#: one standing listed for /ops-jobs and App Home; the intents of a job given up (what it may have done), told
#: to its requester (worker_function/store/intents.py); on the leases table only.
HOLDS_ACTIONS = ("dynamodb:BatchGetItem",)
#: The audit trail: records are written (a job's in one BatchWriteItem, worker_function/store/audit.py; rewritten on
#: redelivery) and /ops-audit queries a target's; never deleted.
AUDIT_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query")
#: The registry of jobs: /ops-jobs and /ops-cancel query the leases table's index `jobs`.
JOBS_INDEX_ACTIONS = ("dynamodb:Query",)

#: The inventory's name inside both assets, and so its path on Lambda (each function's OPSBOT_INVENTORY): the TOML
#: file validated at synth, shipped as JSON (shared.inventory.inventory_json).
INVENTORY_FILE = "inventory.json"
INVENTORY_PATH = f"{LAMBDA_TASK_ROOT}/{INVENTORY_FILE}"


class Worker(Construct):
    """Runs jobs from the queue: SQS batch with partial failures reported per message.

    The inventory validated at synth is shipped in the asset as JSON (OPSBOT_INVENTORY=/var/task/inventory.json,
    loaded once per cold start) and the role's statements on ECS, EC2, Logs, CodeBuild and CodePipeline
    name exactly its resources: the worker can touch what the bot knows about, nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
        tables: dict[str, dynamodb.ITable],
        secret: secretsmanager.ISecret,
        inventory: Inventory,
        inventory_file: bytes,
        jenkins_url: str | None = None,
        runbooks: dict[str, str] | None = None,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        idempotency, leases, audit = tables["idempotency"], tables["leases"], tables["audit"]
        self.resources = InventoryResources.of(inventory)
        operations = OperationPermissions()
        for role_arn, region in placements(inventory):
            if role_arn is None:  # its own account; other accounts' targets are their roles' (target_account.py)
                found = operation_permissions(self, InventoryResources.of(inventory, region=region), region=region)
                operations.statements += found.statements
                operations.wildcards += found.wildcards
        runbooks = runbooks or {}
        if inventory.role_arns():
            operations.statements.append(
                iam.PolicyStatement(actions=list(ASSUME_ROLE_ACTIONS), resources=inventory.role_arns())
            )
        environment = {
            "JOBS_QUEUE_URL": queue.queue_url,
            "JOBS_DLQ_URL": dlq.queue_url,
            "OPSBOT_IDEMPOTENCY_TABLE": idempotency.table_name,
            "OPSBOT_LEASES_TABLE": leases.table_name,
            "OPSBOT_AUDIT_TABLE": audit.table_name,
            "OPSBOT_SECRET_ARN": secret.secret_arn,
            "OPSBOT_INVENTORY": INVENTORY_PATH,
            "OPSBOT_MAX_RECEIVE_COUNT": str(DEPLOYED_TIMING.max_receive_count),
        }
        if runbooks:
            environment["OPSBOT_RUNBOOK_ARNS"] = Stack.of(self).to_json_string(runbooks)
        if jenkins_url:
            # The Jenkins user and API token are read from the secret (jenkins_user, jenkins_api_token).
            environment["JENKINS_URL"] = jenkins_url
        self.worker = OpsbotFunction(
            self,
            "Worker",
            packages=("worker_function", "shared"),
            handler="worker_function.handler.lambda_handler",
            service=WORKER_SERVICE,
            description="opsbot worker: run queued jobs, answer in Slack",
            timeout=Duration.seconds(int(DEPLOYED_TIMING.function_timeout_s)),
            memory_size=WORKER_MEMORY_MB,
            snap_start=True,
            statements=[
                # What the SQS event source mapping calls with the function's role.
                iam.PolicyStatement(actions=list(CONSUME_ACTIONS), resources=[queue.queue_arn]),
                # Continuations are re-queued with a delay; the last attempt parks a job in the DLQ.
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn, dlq.queue_arn]),
                iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[idempotency.table_arn, leases.table_arn]),
                iam.PolicyStatement(actions=list(AUDIT_ACTIONS), resources=[audit.table_arn]),
                iam.PolicyStatement(
                    actions=list(JOBS_INDEX_ACTIONS), resources=[f"{leases.table_arn}/index/{JOBS_INDEX}"]
                ),
                iam.PolicyStatement(actions=list(HOLDS_ACTIONS), resources=[leases.table_arn]),
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]),
            ],
            # The operations': exactly the inventory's resources (infra/aws/worker_permissions.py), packed within
            # IAM's quotas (infra/aws/policy_packing.py), each wildcard acknowledged where it lands.
            packed_statements=operations.statements,
            wildcards=operations.wildcards,
            environment=environment,
            # The inventory ships in the asset, so a changed inventory is a new asset (and a new cold start).
            asset_files={INVENTORY_FILE: inventory_json(inventory_file)},
            role_name=role_name,
        )
        self.function = self.worker.function
        # SnapStart restores published versions only: the queue drives the alias `live`, which every deploy
        # moves to the new version. Each restored copy resolves its own credentials and opens its own connections;
        # its after-restore hook reseeds random and reads the bot token (worker_function/function.py).
        self.alias = lambda_.Alias(self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version)
        acknowledge_warning(
            self.function,
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "A version is published on every deploy (current_version) and the SQS event source invokes it "
            "through the alias `live`, so SnapStart applies to every job.",
        )
        # Its implicit grant is dropped (immutable role): CONSUME_ACTIONS above say the same.
        self.alias.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=MAX_CONCURRENCY,
            )
        )
