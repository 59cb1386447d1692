"""cdk-nag AwsSolutions with zero unacknowledged findings, every acknowledgement with its reason; cfn-lint clean."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

SNAPSTART_PUBLISH = "@aws-cdk/aws-lambda:snapStartRequirePublish"
_REGIONAL = "arn:<AWS::Partition>:{}:<AWS::Region>:<AWS::AccountId>:{}"
#: The worker's wildcards with the example inventory: instances (narrowed by the tag condition), "*" for the
#: actions AWS cannot scope, each log group's ARN with its trailing :*, and the suite's report groups.
#: The ECS services, CodeBuild projects and pipeline are named exactly: no finding.
EXAMPLE_WORKER_WILDCARDS = (
    _REGIONAL.format("ec2", "instance/*"),
    "*",
    _REGIONAL.format("logs", "log-group:/ecs/example/checkout-web:*"),
    _REGIONAL.format("logs", "log-group:/ecs/example/payment-api:*"),
    _REGIONAL.format("codebuild", "report-group/example-regression-smoke-*"),
)
#: With OTHER_INVENTORY (tests/infra/conftest.py): no log groups, another suite.
OTHER_WORKER_WILDCARDS = (
    _REGIONAL.format("ec2", "instance/*"),
    "*",
    _REGIONAL.format("codebuild", "report-group/nightly-e2e-*"),
)


def _expected_acknowledgements(synth, worker_wildcards) -> set[tuple[str, str]]:
    """Every finding the stack acknowledges, by resource. Adding one is a security decision: it changes this set."""
    route_id, _ = synth.only("AWS::ApiGatewayV2::Route")
    versions = synth.resources("AWS::Lambda::Version")
    version_of = {v["Properties"]["FunctionName"]["Ref"]: k for k, v in versions.items()}
    ack_id, worker_id = synth.logical_id(synth.stack.ingress.function), synth.logical_id(synth.stack.worker.function)
    assert set(version_of) == {ack_id, worker_id}  # both on SnapStart: each publishes a version
    return {
        # A CDK warning rather than a nag rule; each function's version inherits the acknowledgement.
        (ack_id, SNAPSTART_PUBLISH),
        (version_of[ack_id], SNAPSTART_PUBLISH),
        (worker_id, SNAPSTART_PUBLISH),
        (version_of[worker_id], SNAPSTART_PUBLISH),
        (synth.logical_id(synth.stack.slack.secret), "AwsSolutions-SMG4"),
        (synth.logical_id(synth.stack.ingress.function), "AwsSolutions-L1"),
        (synth.logical_id(synth.stack.worker.function), "AwsSolutions-L1"),
        (route_id, "AwsSolutions-APIG4"),
    } | {
        (synth.logical_id(synth.stack.worker.worker.role), f"AwsSolutions-IAM5[Resource::{r}]")
        for r in worker_wildcards
    }


def _violations(report) -> list[str]:
    return [
        f"{v.severity} {v.rule_name}: {', '.join(r.construct_path for r in v.violating_resources)}"
        for v in report.violations
    ]


def test_given_the_stack_when_aws_solutions_checks_run_then_nothing_is_left_unacknowledged(synth):
    """Also true of every other synth in these tests (`other`, the empty inventory): build_app adds the checks
    as a validation plugin, so a synth with an unacknowledged finding raises instead of returning a template."""
    report = AwsSolutionsChecks().validate_scope(synth.app)
    assert _violations(report) == []
    assert report.success


def test_given_an_unprotected_queue_when_the_checks_run_then_they_report_it():
    """The checks are live: the same pack finds the problems the stack's queues avoid."""
    app = App()
    stack = Stack(app, "Bare")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    rules = {v.rule_name for v in AwsSolutionsChecks().validate_scope(app).violations}
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules


@pytest.mark.parametrize(
    ("deployment", "worker_wildcards"), [("synth", EXAMPLE_WORKER_WILDCARDS), ("other", OTHER_WORKER_WILDCARDS)]
)
def test_given_the_template_then_each_acknowledgement_is_recorded_with_its_reason(
    deployment, worker_wildcards, request
):
    synth = request.getfixturevalue(deployment)
    recorded = set()
    for logical_id, resource in synth.json["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"].split()) >= 10, f"{logical_id} {rule['id']}: the reason is too thin"
            recorded.add((logical_id, rule["id"]))
    assert recorded == _expected_acknowledgements(synth, worker_wildcards)


def test_given_tag_conditions_then_the_instance_acknowledgement_names_them(other):
    role = other.json["Resources"][other.logical_id(other.stack.worker.worker.role)]
    reasons = {r["id"]: r["reason"] for r in role["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    reason = reasons[f"AwsSolutions-IAM5[Resource::{_REGIONAL.format('ec2', 'instance/*')}]"]
    assert "aws:ResourceTag/Name in bastion, jump" in reason
    assert "aws:ResourceTag/Role in batch-worker" in reason
    unscoped = "ec2:DescribeInstanceStatus, ec2:DescribeInstances, ecs:DescribeTaskDefinition, ecs:ListTaskDefinitions "
    assert reasons["AwsSolutions-IAM5[Resource::*]"].startswith(unscoped)


def test_given_the_synthesized_template_when_cfn_lint_runs_then_it_finds_nothing(synth):
    cfnlint_api = pytest.importorskip("cfnlint.api")
    matches = cfnlint_api.lint(json.dumps(synth.json), regions=["us-east-1", "eu-west-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
