"""The worker: a Lambda function on the jobs queue, with exactly the permissions its operations use."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.aws.functions import WORKER_SERVICE, OpsbotFunction
from infra.aws.nag import acknowledge
from shared.settings import MAX_RECEIVE_COUNT, WORKER_TIMEOUT_SECONDS

#: One job per invocation. Jobs of a batch run one after another inside one invocation, so a batch
#: must finish within WORKER_TIMEOUT_SECONDS; one job per invocation gives every job the whole
#: timeout and keeps a slow job from timing out (and re-running) the others. At ChatOps volumes
#: batching saves nothing; parallelism comes from MAX_CONCURRENCY.
BATCH_SIZE = 1
#: How many worker invocations the queue may drive at once (SQS event source maximum concurrency).
MAX_CONCURRENCY = 5
WORKER_MEMORY_MB = 512

#: The SQS event source mapping polls with the function's role
#: (docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions).
CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")
#: Item-level DynamoDB actions used by Powertools idempotency and the lease store.
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
#: What the operations call on ECS: /deploy-status describes services; UpdateService is for the
#: restart operation (issue 4 brief), which has no caller yet.
ECS_ACTIONS = ("ecs:DescribeServices", "ecs:UpdateService")
#: /ops-restart on instance targets reboots them (any instance of the account and region: which ones is
#: the inventory's tag, read at run time).
EC2_REBOOT_ACTIONS = ("ec2:RebootInstances",)
#: Actions AWS authorizes on "*" only (no resource-level permissions in the Service Authorization
#: Reference): the instance reads of /ops-restart and /ops-status, and the results of a Logs Insights query.
UNSCOPED_ACTIONS = ("ec2:DescribeInstanceStatus", "ec2:DescribeInstances", "logs:GetQueryResults")
#: /ops-logs starts Insights queries on log groups.
LOGS_ACTIONS = ("logs:StartQuery",)
#: /ops-migrate and /ops-regression run CodeBuild projects and follow their builds.
CODEBUILD_ACTIONS = ("codebuild:BatchGetBuilds", "codebuild:StartBuild")
#: /ops-regression reads the builds' test reports.
REPORT_ACTIONS = ("codebuild:BatchGetReports",)
#: /deploy-status reads pipeline stages.
PIPELINE_ACTIONS = ("codepipeline:GetPipelineState",)


def _arn(scope: Construct, service: str, resource: str, sep: str = "/") -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` of this stack."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}"


def ecs_services_arn(scope: Construct, cluster: str) -> str:
    """Every service of one cluster (ECS's long ARN format names the cluster)."""
    return Stack.of(scope).format_arn(service="ecs", resource="service", resource_name=f"{cluster}/*")


class Worker(Construct):
    """Runs jobs from the queue: SQS batch with partial failures reported per message."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
        tables: dict[str, dynamodb.ITable],
        secret: secretsmanager.ISecret,
        ecs_cluster: str,
    ) -> None:
        super().__init__(scope, construct_id)
        idempotency, leases = tables["idempotency"], tables["leases"]
        services_arn = ecs_services_arn(self, ecs_cluster)
        self.worker = OpsbotFunction(
            self,
            "Worker",
            packages=("worker_function", "shared"),
            handler="worker_function.handler.lambda_handler",
            service=WORKER_SERVICE,
            description="opsbot worker: run queued jobs, answer in Slack",
            timeout=Duration.seconds(WORKER_TIMEOUT_SECONDS),
            memory_size=WORKER_MEMORY_MB,
            statements=[
                # What the SQS event source mapping calls with the function's role.
                iam.PolicyStatement(actions=list(CONSUME_ACTIONS), resources=[queue.queue_arn]),
                # Continuations are re-queued with a delay; the last attempt parks a job in the DLQ.
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn, dlq.queue_arn]),
                iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[idempotency.table_arn, leases.table_arn]),
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]),
                iam.PolicyStatement(actions=list(ECS_ACTIONS), resources=[services_arn]),
                iam.PolicyStatement(actions=list(EC2_REBOOT_ACTIONS), resources=[_arn(self, "ec2", "instance/*")]),
                iam.PolicyStatement(actions=list(UNSCOPED_ACTIONS), resources=["*"]),
                iam.PolicyStatement(actions=list(LOGS_ACTIONS), resources=[_arn(self, "logs", "log-group:*", ":")]),
                iam.PolicyStatement(actions=list(CODEBUILD_ACTIONS), resources=[_arn(self, "codebuild", "project/*")]),
                iam.PolicyStatement(
                    actions=list(REPORT_ACTIONS), resources=[_arn(self, "codebuild", "report-group/*")]
                ),
                iam.PolicyStatement(actions=list(PIPELINE_ACTIONS), resources=[_arn(self, "codepipeline", "*", ":")]),
            ],
            environment={
                "JOBS_QUEUE_URL": queue.queue_url,
                "JOBS_DLQ_URL": dlq.queue_url,
                "OPSBOT_IDEMPOTENCY_TABLE": idempotency.table_name,
                "OPSBOT_LEASES_TABLE": leases.table_name,
                "OPSBOT_SECRET_ARN": secret.secret_arn,
                "OPSBOT_ECS_CLUSTER": ecs_cluster,
                "OPSBOT_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
            },
        )
        self.function = self.worker.function
        # Its implicit grant is dropped (immutable role): CONSUME_ACTIONS above say the same.
        self.function.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=MAX_CONCURRENCY,
            )
        )
        for resource, reason in (
            (
                "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*",
                "ec2:RebootInstances: which instances "
                "is the inventory's tag (/ops-restart of an instance target), resolved when the job runs.",
            ),
            (
                "*",
                "ec2:DescribeInstances, ec2:DescribeInstanceStatus and logs:GetQueryResults have no resource-level "
                "permissions: AWS authorizes them on * only.",
            ),
            (
                "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*",
                "logs:StartQuery on the log groups the inventory names (/ops-logs); the inventory is read at run time.",
            ),
            (
                "arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:project/*",
                "The migration and regression projects the inventory names (/ops-migrate, /ops-regression).",
            ),
            (
                "arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/*",
                "The test reports of those builds (/ops-regression), whose report groups the buildspecs name.",
            ),
            (
                "arn:<AWS::Partition>:codepipeline:<AWS::Region>:<AWS::AccountId>:*",
                "codepipeline:GetPipelineState (read only) on the pipelines the inventory names (/deploy-status).",
            ),
        ):
            acknowledge(self.worker.role, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
        acknowledge(
            self.worker.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/{ecs_cluster}/*]",
            "ecs:DescribeServices and ecs:UpdateService are scoped to the services of the one cluster "
            f"opsbot operates (context ecsCluster, here {ecs_cluster!r}). Which service is an argument of "
            "a Slack command, validated by its command spec, so the services cannot be listed at deploy time.",
        )
