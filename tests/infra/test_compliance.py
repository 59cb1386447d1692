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
ECS_SERVICES = "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/opsbot-demo/*"
#: The worker's other wildcards (issue 5): instances, log groups, CodeBuild projects and report groups, and
#: pipelines named by the inventory (read at run time), and "*" for the actions AWS cannot scope.
_REGIONAL = "arn:<AWS::Partition>:{}:<AWS::Region>:<AWS::AccountId>:{}"
WORKER_WILDCARDS = (
    _REGIONAL.format("ec2", "instance/*"),
    "*",
    _REGIONAL.format("logs", "log-group:*"),
    _REGIONAL.format("codebuild", "project/*"),
    _REGIONAL.format("codebuild", "report-group/*"),
    _REGIONAL.format("codepipeline", "*"),
)


def _expected_acknowledgements(synth) -> set[tuple[str, str]]:
    """Every finding the stack acknowledges, by resource. Adding one is a security decision: it changes this set."""
    route_id, _ = synth.only("AWS::ApiGatewayV2::Route")
    version_id, _ = synth.only("AWS::Lambda::Version")
    return {
        # A CDK warning rather than a nag rule; the function's version inherits the acknowledgement.
        (synth.logical_id(synth.stack.ingress.function), SNAPSTART_PUBLISH),
        (version_id, SNAPSTART_PUBLISH),
        (synth.logical_id(synth.stack.slack.secret), "AwsSolutions-SMG4"),
        (synth.logical_id(synth.stack.ingress.function), "AwsSolutions-L1"),
        (synth.logical_id(synth.stack.worker.function), "AwsSolutions-L1"),
        (route_id, "AwsSolutions-APIG4"),
        (synth.logical_id(synth.stack.worker.worker.role), f"AwsSolutions-IAM5[{ECS_SERVICES}]"),
    } | {
        (synth.logical_id(synth.stack.worker.worker.role), f"AwsSolutions-IAM5[Resource::{r}]")
        for r in WORKER_WILDCARDS
    }


def _violations(report) -> list[str]:
    return [
        f"{v.severity} {v.rule_name}: {', '.join(r.construct_path for r in v.violating_resources)}"
        for v in report.violations
    ]


def test_given_the_stack_when_aws_solutions_checks_run_then_nothing_is_left_unacknowledged(synth):
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


def test_given_the_template_then_each_acknowledgement_is_recorded_with_its_reason(synth):
    recorded = set()
    for logical_id, resource in synth.json["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"].split()) >= 10, f"{logical_id} {rule['id']}: the reason is too thin"
            recorded.add((logical_id, rule["id"]))
    assert recorded == _expected_acknowledgements(synth)


def test_given_the_synthesized_template_when_cfn_lint_runs_then_it_finds_nothing(synth):
    cfnlint_api = pytest.importorskip("cfnlint.api")
    matches = cfnlint_api.lint(json.dumps(synth.json), regions=["us-east-1", "eu-west-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
