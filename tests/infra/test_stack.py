"""The synthesized template: every resource of the stack and the properties that make it work."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

from infra.aws.bundling import PipBundling
from infra.aws.functions import METRICS_NAMESPACE
from infra.aws.ingress import ROUTE_KEY, THROTTLE_BURST, THROTTLE_RATE
from infra.aws.monitoring import ACK_P99_THRESHOLD_MS, OLDEST_MESSAGE_THRESHOLD_S
from infra.aws.worker import BATCH_SIZE, INVENTORY_FILE, INVENTORY_PATH, LIVE_ALIAS, MAX_CONCURRENCY
from shared.commands.registry import INDEX_FILE as COMMAND_INDEX_FILE
from shared.commands.registry import index_json as command_index_json
from shared.inventory import load_inventory
from shared.plugins import INDEX_FILE
from shared.settings import (
    AUDIT_TABLE,
    IDEMPOTENCY_TABLE,
    LEASES_TABLE,
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    WORKER_TIMEOUT_SECONDS,
)
from tests.infra.conftest import EXAMPLE_INVENTORY, JENKINS_URL

EXPECTED_RESOURCE_COUNTS = {
    "AWS::SQS::Queue": 2,
    "AWS::SQS::QueuePolicy": 2,
    "AWS::DynamoDB::Table": 3,
    "AWS::SecretsManager::Secret": 1,
    "AWS::Logs::LogGroup": 3,
    "AWS::IAM::Role": 2,
    "AWS::Lambda::Function": 2,
    "AWS::Lambda::Version": 2,
    "AWS::Lambda::Alias": 2,
    "AWS::Lambda::Permission": 1,
    "AWS::Lambda::EventSourceMapping": 1,
    "AWS::ApiGatewayV2::Api": 1,
    "AWS::ApiGatewayV2::Integration": 1,
    "AWS::ApiGatewayV2::Route": 1,
    "AWS::ApiGatewayV2::Stage": 1,
    "AWS::SNS::Topic": 2,
    "AWS::SNS::TopicPolicy": 2,
    "AWS::SNS::Subscription": 1,
    # The example inventory routes one alarm: one EventBridge rule delivers its state changes to the jobs queue.
    "AWS::Events::Rule": 1,
    "AWS::CloudWatch::Alarm": 5,
    "AWS::CloudWatch::Dashboard": 1,
}


def _qualified_name(alias_id: str, alias: str) -> dict:
    """`<function name>:<alias>` as CDK writes it for an alias: the name is the 7th field of the alias's ARN."""
    name = {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": alias_id}]}]}
    return {"Fn::Join": ["", [name, f":{alias}"]]}


def _function(synth, construct):  # -> (logical id, resource)
    logical_id = synth.logical_id(construct)
    return logical_id, synth.json["Resources"][logical_id]


def test_given_the_stack_when_synthesized_then_it_has_exactly_the_expected_resources(synth):
    counts: dict[str, int] = {}
    for resource in synth.json["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    assert counts == EXPECTED_RESOURCE_COUNTS


# --- queue ---------------------------------------------------------------------------------------


def test_given_the_jobs_queue_then_it_redrives_to_the_dlq_after_the_shared_receive_count(synth):
    queue_id = synth.logical_id(synth.stack.jobs.queue)
    dlq_id = synth.logical_id(synth.stack.jobs.dlq)
    queue = synth.json["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert "FifoQueue" not in queue  # standard: continuations need per-message DelaySeconds


def test_given_the_jobs_queue_then_its_visibility_timeout_is_six_times_the_worker_timeout(synth):
    queue = synth.json["Resources"][synth.logical_id(synth.stack.jobs.queue)]["Properties"]
    assert queue["VisibilityTimeout"] == QUEUE_VISIBILITY_TIMEOUT_SECONDS
    assert queue["VisibilityTimeout"] >= 6 * WORKER_TIMEOUT_SECONDS


@pytest.mark.parametrize("which", ["queue", "dlq"])
def test_given_either_queue_then_it_is_encrypted_and_refuses_plain_http(synth, which):
    construct = getattr(synth.stack.jobs, which)
    logical_id = synth.logical_id(construct)
    assert synth.json["Resources"][logical_id]["Properties"]["SqsManagedSseEnabled"] is True
    synth.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": logical_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            },
        },
    )


# --- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "ttl", "indexed"),
    [(IDEMPOTENCY_TABLE, "id", "expiration", ()), (LEASES_TABLE, "target", "expires_at", ("registry", "job_id"))],
)
def test_given_a_worker_table_then_it_is_on_demand_with_ttl_pitr_and_encryption(synth, name, key, ttl, indexed):
    synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": name,
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in (key, *indexed)],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": ttl, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_given_the_leases_table_then_its_index_jobs_lists_the_registry_of_jobs(synth):
    synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": LEASES_TABLE,
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "jobs",
                    "KeySchema": [
                        {"AttributeName": "registry", "KeyType": "HASH"},
                        {"AttributeName": "job_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )


def test_given_the_audit_table_then_it_is_keyed_by_target_and_time_expires_by_ttl_and_is_retained(synth):
    synth.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "TableName": AUDIT_TABLE,
                "KeySchema": [
                    {"AttributeName": "target", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
            "DeletionPolicy": "Retain",
        },
    )


# --- secret --------------------------------------------------------------------------------------


def test_given_the_slack_secret_then_it_holds_empty_json_placeholders_only(synth):
    _, secret = synth.only("AWS::SecretsManager::Secret")
    assert json.loads(secret["Properties"]["SecretString"]) == {"signing_secret": "", "bot_token": ""}


# --- ingress -------------------------------------------------------------------------------------


def test_given_the_ack_function_then_it_is_python_3_13_arm64_with_snapstart(synth):
    _, ack = _function(synth, synth.stack.ingress.function)
    props = ack["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["Handler"] == "ack_function.handler.lambda_handler"
    assert props["Timeout"] <= 3  # Slack's 3-second rule


def test_given_the_ack_function_then_its_environment_names_match_the_settings(synth):
    _, ack = _function(synth, synth.stack.ingress.function)
    env = ack["Properties"]["Environment"]["Variables"]
    assert env == {
        "JOBS_QUEUE_URL": {"Ref": synth.logical_id(synth.stack.jobs.queue)},
        "OPSBOT_SECRET_ARN": {"Ref": synth.logical_id(synth.stack.slack.secret)},
        "OPSBOT_INVENTORY": INVENTORY_PATH,
        "POWERTOOLS_SERVICE_NAME": "opsbot-ack",
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }


def test_given_the_api_then_the_slack_route_invokes_the_live_alias_of_a_published_version(synth):
    ack_id, _ = _function(synth, synth.stack.ingress.function)
    alias_id, alias = _function(synth, synth.stack.ingress.alias)
    version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert synth.json["Resources"][version_id]["Properties"]["FunctionName"] == {"Ref": ack_id}
    assert alias["Properties"] == {
        "FunctionName": {"Ref": ack_id},
        "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
        "Name": "live",
    }
    integration_id, integration = synth.only("AWS::ApiGatewayV2::Integration")
    assert integration["Properties"]["IntegrationUri"] == {"Ref": alias_id}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    _, route = synth.only("AWS::ApiGatewayV2::Route")
    assert route["Properties"]["RouteKey"] == ROUTE_KEY == "POST /slack/events"
    assert route["Properties"]["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]}
    _, permission = synth.only("AWS::Lambda::Permission")
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_given_the_stage_then_the_slack_route_is_throttled_and_access_logged(synth):
    _, stage = synth.only("AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    throttle = {"ThrottlingRateLimit": THROTTLE_RATE, "ThrottlingBurstLimit": THROTTLE_BURST}
    assert props["RouteSettings"] == {ROUTE_KEY: throttle}
    assert props["DefaultRouteSettings"] == throttle
    access = props["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.ingress.access_logs), "Arn"]}
    assert json.loads(access["Format"])["requestId"] == "$context.requestId"


def test_given_the_outputs_then_the_request_url_is_the_https_slack_events_path(synth):
    api_id, _ = synth.only("AWS::ApiGatewayV2::Api")
    outputs = synth.json["Outputs"]
    assert outputs["RequestUrl"]["Value"] == {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Ref": api_id},
                ".execute-api.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/slack/events",
            ],
        ]
    }
    assert {"RequestUrl", "SecretArn", "AlarmTopicArn", "DeadLetterQueueUrl"} <= set(outputs)


# --- worker --------------------------------------------------------------------------------------


def test_given_the_worker_then_it_runs_on_the_queue_with_partial_batch_failures(synth):
    _, worker = _function(synth, synth.stack.worker.function)
    props = worker["Properties"]
    assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"])
    assert props["Timeout"] == WORKER_TIMEOUT_SECONDS
    assert props["Handler"] == "worker_function.handler.lambda_handler"
    _, mapping = synth.only("AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"] == {
        "BatchSize": BATCH_SIZE,
        "EventSourceArn": {"Fn::GetAtt": [synth.logical_id(synth.stack.jobs.queue), "Arn"]},
        # The alias of a published version: SnapStart restores versions, never $LATEST.
        "FunctionName": _qualified_name(synth.logical_id(synth.stack.worker.alias), LIVE_ALIAS),
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": MAX_CONCURRENCY},
    }


def test_given_the_worker_then_snapstart_restores_the_published_version_the_queue_invokes(synth):
    worker_id, worker = _function(synth, synth.stack.worker.function)
    assert worker["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias_id, alias = _function(synth, synth.stack.worker.alias)
    version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    version = synth.json["Resources"][version_id]
    assert (version["Type"], version["Properties"]["FunctionName"]) == ("AWS::Lambda::Version", {"Ref": worker_id})
    assert alias["Properties"] == {
        "FunctionName": {"Ref": worker_id},
        "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
        "Name": LIVE_ALIAS,
    }
    _, mapping = synth.only("AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["FunctionName"] == _qualified_name(alias_id, LIVE_ALIAS)
    # The role the mapping polls with is the function's own (without_policy_updates): no grant on the alias.
    statements = [
        s
        for r in synth.resources("AWS::IAM::Role").values()
        for p in r["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert any("sqs:ReceiveMessage" in s["Action"] for s in statements)


def test_given_the_worker_then_its_environment_names_match_the_settings(synth):
    _, worker = _function(synth, synth.stack.worker.function)
    env = worker["Properties"]["Environment"]["Variables"]
    assert env == {
        "JOBS_QUEUE_URL": {"Ref": synth.logical_id(synth.stack.jobs.queue)},
        "JOBS_DLQ_URL": {"Ref": synth.logical_id(synth.stack.jobs.dlq)},
        "OPSBOT_IDEMPOTENCY_TABLE": {"Ref": synth.logical_id(synth.stack.state.idempotency)},
        "OPSBOT_LEASES_TABLE": {"Ref": synth.logical_id(synth.stack.state.leases)},
        "OPSBOT_AUDIT_TABLE": {"Ref": synth.logical_id(synth.stack.state.audit)},
        "OPSBOT_SECRET_ARN": {"Ref": synth.logical_id(synth.stack.slack.secret)},
        # The inventory ships at the root of the worker's asset, which Lambda unpacks in /var/task, as JSON.
        "OPSBOT_INVENTORY": "/var/task/inventory.json",
        "OPSBOT_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
        "JENKINS_URL": JENKINS_URL,
        "POWERTOOLS_SERVICE_NAME": "opsbot-worker",
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }


def test_given_the_worker_asset_when_it_is_built_then_the_inventory_is_where_opsbot_inventory_points(synth, tmp_path):
    """The worker's own bundler (pip left out): Lambda unpacks the asset in /var/task."""
    bundler = synth.stack.worker.worker.bundler
    offline = PipBundling(
        packages=bundler.packages,
        requirements=(),
        files=dict(bundler.files),
        root=bundler.root,
        run=lambda *a, **k: pytest.fail("pip runs only for requirements"),
    )
    assert offline.try_bundle(str(tmp_path)) is True
    shipped = tmp_path / Path(INVENTORY_PATH).relative_to("/var/task")
    # The file validated at synth, as JSON: the same tables and values, loaded to the same inventory.
    assert json.loads(shipped.read_bytes()) == tomllib.loads(EXAMPLE_INVENTORY.read_text())
    assert load_inventory(shipped) == load_inventory(EXAMPLE_INVENTORY)
    assert (tmp_path / "worker_function" / "handler.py").is_file()
    # Beside the inventory, the index of the plugins installed when the asset was built (empty without any) and
    # the index of the commands (each with its module: a cold start lists no package).
    indexes = sorted([INVENTORY_FILE, INDEX_FILE, COMMAND_INDEX_FILE])
    assert [name for name, _ in bundler.files] == indexes
    assert (tmp_path / COMMAND_INDEX_FILE).read_bytes() == command_index_json()
    # The ack reads the same files at init, for the [policy] it applies from static lists.
    assert [name for name, _ in synth.stack.ingress.ack.bundler.files] == indexes


def _setting_names(model) -> set[str]:
    names: set[str] = set()
    for field in model.model_fields.values():
        alias = field.validation_alias
        names.update(c for c in getattr(alias, "choices", [alias]) if isinstance(c, str) and c.isupper())
    return names


#: Read by the functions outside the settings models: Powertools itself, and the secret (the
#: functions read it through Powertools parameters).
_READ_ELSEWHERE = {
    "PYDANTIC_DISABLE_PLUGINS",  # read by pydantic
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "OPSBOT_SECRET_ARN",
}


@pytest.mark.parametrize(("function", "model"), [("ingress", "AckSettings"), ("worker", "WorkerSettings")])
def test_given_a_function_then_every_variable_it_is_given_is_one_its_code_reads(synth, function, model):
    import shared.settings

    _, resource = _function(synth, getattr(synth.stack, function).function)
    given = set(resource["Properties"]["Environment"]["Variables"])
    unknown = given - _setting_names(getattr(shared.settings, model)) - _READ_ELSEWHERE
    assert not unknown, f"{function} is given variables no setting reads: {sorted(unknown)}"


# --- monitoring ----------------------------------------------------------------------------------


def _alarm(synth, name):
    return synth.json["Resources"][synth.logical_id(synth.stack.monitoring.alarms[name])]["Properties"]


def test_given_the_alarms_then_each_notifies_the_alarm_topic(synth):
    topic_id = synth.logical_id(synth.stack.monitoring.topic)
    for name in synth.stack.monitoring.alarms:
        alarm = _alarm(synth, name)
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["OKActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_given_the_dlq_alarm_then_it_fires_on_the_first_dead_letter(synth):
    alarm = _alarm(synth, "DlqNotEmpty")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [synth.logical_id(synth.stack.jobs.dlq), "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_given_an_alarm_no_channel_shows_then_the_alarms_dropped_alarm_fires(synth):
    """The worker's `AlarmsDropped` (service dimension only, as it emits it): an unrouted alarm is never silent."""
    alarm = _alarm(synth, "AlarmsDropped")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("opsbot", "AlarmsDropped", "Sum")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "opsbot-worker"}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_given_the_worker_errors_alarm_then_it_watches_the_worker_function(synth):
    alarm = _alarm(synth, "WorkerErrors")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": synth.logical_id(synth.stack.worker.function)}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_given_the_age_alarm_then_it_watches_the_oldest_job(synth):
    alarm = _alarm(synth, "OldestJobAge")
    assert (alarm["MetricName"], alarm["Statistic"]) == ("ApproximateAgeOfOldestMessage", "Maximum")
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.jobs.queue), "QueueName"]}
    assert alarm["Threshold"] == OLDEST_MESSAGE_THRESHOLD_S


def test_given_the_ack_latency_alarm_then_it_watches_the_ack_p99(synth):
    alarm = _alarm(synth, "AckLatencyP99")
    assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == ("Duration", "p99")
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": synth.logical_id(synth.stack.ingress.function)}}
    ]
    assert alarm["Threshold"] == ACK_P99_THRESHOLD_MS < 3000


def test_given_the_dashboard_then_it_shows_ack_latency_queue_depth_and_age_and_jobs(synth):
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(part if isinstance(part, str) else "REF" for part in parts))
    widgets = {w["properties"]["title"]: w["properties"]["metrics"] for w in body["widgets"]}
    assert list(widgets) == [
        "Ack latency (ms)",
        "Ack requests and failures",
        "Queue depth",
        "Age of oldest job (s)",
        "Job outcomes (per command)",
        "Job duration and queue wait (ms, p99)",
        "Worker",
    ]
    metrics = {
        title: [tuple(m[:2]) if isinstance(m[0], str) else m[0]["expression"] for m in ms]
        for title, ms in widgets.items()
    }
    assert ("AWS/Lambda", "Duration") in metrics["Ack latency (ms)"]
    assert (METRICS_NAMESPACE, "AckLatency") in metrics["Ack latency (ms)"]
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics["Queue depth"]
    assert metrics["Age of oldest job (s)"] == [("AWS/SQS", "ApproximateAgeOfOldestMessage")]
    assert metrics["Job outcomes (per command)"] == [
        "SEARCH('{opsbot,command,outcome,service} MetricName=\"JobOutcome\"', 'Sum', 300)"
    ]
