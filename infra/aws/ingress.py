"""Ingress: HTTP API `POST /slack/events` -> the ack function (SnapStart, alias `live`)."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.aws.functions import ACK_SERVICE, OpsbotFunction
from infra.aws.nag import acknowledge, acknowledge_warning
from infra.aws.worker import INVENTORY_FILE, INVENTORY_PATH
from shared.inventory import inventory_json

SLACK_PATH = "/slack/events"
ROUTE_KEY = f"POST {SLACK_PATH}"

#: Requests per second (steady) and burst on the Slack route: far above what people type, far
#: below what would run up a bill if the URL leaked (unsigned requests are refused by the ack).
THROTTLE_RATE = 20
THROTTLE_BURST = 40

#: Slack waits 3 s for the HTTP response; an ack still running after that has already failed.
ACK_TIMEOUT = Duration.seconds(3)
#: More memory is more CPU for the cold start / SnapStart restore (to be tuned with bench/).
ACK_MEMORY_MB = 512

#: One JSON line per request in the access log.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
    }
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """`IAccessLogSettings` is an interface, not a struct: Python implements it."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


class Ingress(Construct):
    """The ack function behind an HTTP API (payload format 2.0).

    SnapStart runs on published versions only, so API Gateway invokes the alias `live`, which
    every deploy moves to the new version (docs.aws.amazon.com/lambda/latest/dg/snapstart.html).
    The ack's role can send to the jobs queue and read the Slack secret, nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        secret: secretsmanager.ISecret,
        inventory_file: bytes | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {"JOBS_QUEUE_URL": queue.queue_url, "OPSBOT_SECRET_ARN": secret.secret_arn}
        if inventory_file is not None:
            # The ack applies the inventory's [policy] from its static lists (denials, confirmation and
            # approval requests): it reads the same file as the worker, once at init.
            environment["OPSBOT_INVENTORY"] = INVENTORY_PATH
        self.ack = OpsbotFunction(
            self,
            "Ack",
            packages=("ack_function", "shared"),
            handler="ack_function.handler.lambda_handler",
            service=ACK_SERVICE,
            description="opsbot ack: verify Slack requests, queue jobs",
            timeout=ACK_TIMEOUT,
            memory_size=ACK_MEMORY_MB,
            snap_start=True,
            statements=[
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]),
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]),
            ],
            environment=environment,
            asset_files={INVENTORY_FILE: inventory_json(inventory_file)} if inventory_file is not None else None,
        )
        self.function = self.ack.function
        self.alias = lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
        acknowledge_warning(
            self.function,
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "A version is published on every deploy (current_version) and API Gateway invokes it "
            "through the alias `live`, so SnapStart applies to every request.",
        )

        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="opsbot: Slack slash commands, interactivity and events",
            create_default_stage=False,
        )
        routes = self.api.add_routes(
            path=SLACK_PATH,
            methods=[apigwv2.HttpMethod.POST],
            integration=integrations.HttpLambdaIntegration("Ack", self.alias),
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(self.access_logs),
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
        )
        # Per-route throttling; the stage must be created after the route it names.
        self.stage.node.add_dependency(*routes)
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.add_property_override(
            "RouteSettings",
            {ROUTE_KEY: {"ThrottlingRateLimit": THROTTLE_RATE, "ThrottlingBurstLimit": THROTTLE_BURST}},
        )
        self.request_url = f"{self.stage.url}{SLACK_PATH.lstrip('/')}"

        for route in routes:
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                "Slack cannot present IAM, JWT or Lambda-authorizer credentials. Every request is "
                "authenticated by the ack function, which verifies Slack's HMAC-SHA256 request signature "
                "(X-Slack-Signature, 5-minute timestamp window) on the raw body before anything else, and "
                "refuses every request while no signing secret is set.",
            )
