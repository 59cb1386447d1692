"""What both Lambda functions share: runtime, architecture, an own role, an own log group, Powertools env."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.aws.bundling import PYTHON_VERSION, function_code
from infra.aws.nag import acknowledge
from infra.aws.policy_packing import packed_role
from shared.observability import NAMESPACE
from shared.settings import FUNCTION_ENVIRONMENT

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64

#: Powertools Metrics namespace (EMF) of both functions; the dashboard's custom metrics live here.
METRICS_NAMESPACE = NAMESPACE

#: Powertools service names (the `service` key of log lines, the `service` dimension of metrics).
ACK_SERVICE = "opsbot-ack"
WORKER_SERVICE = "opsbot-worker"

LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class OpsbotFunction(Construct):
    """A Python 3.13 arm64 function with its own role and log group.

    The role holds exactly `statements` plus writing to the function's own log group in its inline
    policy, and `packed_statements` inline too while everything fits IAM's 10,240 characters, else
    packed into customer-managed policies (infra/aws/policy_packing.py): no AWS managed policy
    (AWSLambdaBasicExecutionRole allows logs:CreateLogGroup on `*`), and no grants added behind our
    back. The function gets the role through
    `without_policy_updates()`, so CDK's implicit grants (the SQS event source's, for one) are
    dropped: every permission a function has is written in its construct, where the tests see it.
    `wildcards` are the cdk-nag findings of those statements, acknowledged with their reasons.
    `asset_files` are data files shipped at the root of the code asset (bundling.LAMBDA_TASK_ROOT).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packages: Sequence[str],
        handler: str,
        service: str,
        statements: Sequence[iam.PolicyStatement],
        packed_statements: Sequence[iam.PolicyStatement] = (),
        wildcards: Sequence[tuple[str, str]] = (),
        environment: Mapping[str, str],
        timeout: Duration,
        memory_size: int,
        description: str,
        snap_start: bool = False,
        asset_files: Mapping[str, bytes] | None = None,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        log_statement = iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        )
        self.role, self.managed_policies = packed_role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            role_name=role_name,
            description=f"{description}: least privilege",
            statements=[log_statement, *statements],
            packed=packed_statements,
            wildcards=wildcards,
        )
        code, self.bundler = function_code(packages, files=asset_files)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            handler=handler,
            role=self.role.without_policy_updates(),
            log_group=self.log_group,
            timeout=timeout,
            memory_size=memory_size,
            description=description,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **FUNCTION_ENVIRONMENT,
                **environment,
            },
        )
        # CDK adds DependsOn: [role], which `Role: GetAtt role.Arn` already implies (cfn-lint W3005).
        # With the inline policy on the role itself there is nothing else to wait for.
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.add_deletion_override("DependsOn")
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Python {PYTHON_VERSION} on purpose: the asset is built from cp{PYTHON_VERSION.replace('.', '')} "
            "manylinux wheels and SnapStart supports it; the runtime and bundling.PYTHON_VERSION move together.",
        )
