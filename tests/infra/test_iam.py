"""Least privilege: each function has its own role, and the roles hold exactly these statements."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("aws_cdk")

from infra.aws.worker import AUDIT_ACTIONS, CONSUME_ACTIONS, HOLDS_ACTIONS, JOBS_INDEX_ACTIONS, TABLE_ACTIONS
from infra.aws.worker_permissions import (
    CODEBUILD_ACTIONS,
    EC2_READ_ACTIONS,
    EC2_REBOOT_ACTIONS,
    ECS_ACTIONS,
    LOGS_ACTIONS,
    PIPELINE_ACTIONS,
    QUERY_RESULTS_ACTIONS,
    REPORT_ACTIONS,
    TASK_DEFINITION_READ_ACTIONS,
    UNSCOPED_ACTIONS,
    InventoryResources,
    operation_permissions,
)
from shared.inventory import Inventory


def _regional(service: str, resource: str) -> dict:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` as CloudFormation renders it."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


def _one(actions):
    return list(actions) if len(actions) > 1 else actions[0]


def _statements_of_role(synth, role_construct) -> list[dict]:
    """Every statement granted to the role: its inline policies and any AWS::IAM::Policy attached to it."""
    role_id = synth.logical_id(role_construct)
    role = synth.json["Resources"][role_id]["Properties"]
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _normalized(statements: list[dict]) -> list[dict]:
    """Statements with their Action and Resource lists sorted (the minimizePolicies flag sorts them)."""

    def as_sorted(value):
        return sorted(value, key=json.dumps) if isinstance(value, list) else value

    return [{k: as_sorted(v) for k, v in statement.items()} for statement in statements]


def _arn(synth, construct):
    return {"Fn::GetAtt": [synth.logical_id(construct), "Arn"]}


def test_given_the_ack_role_then_it_can_only_log_send_to_the_queue_and_read_the_secret(synth):
    ingress = synth.stack.ingress
    assert _normalized(_statements_of_role(synth, ingress.ack.role)) == _normalized(
        [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": _arn(synth, ingress.ack.log_group),
            },
            {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": _arn(synth, synth.stack.jobs.queue)},
            {
                "Action": "secretsmanager:GetSecretValue",
                "Effect": "Allow",
                "Resource": {"Ref": synth.logical_id(synth.stack.slack.secret)},
            },
        ]
    )


def _base_worker_statements(synth) -> list[dict]:
    """What the worker needs whatever the inventory: its log group, the queues, the tables, the secret."""
    worker, jobs, state = synth.stack.worker, synth.stack.jobs, synth.stack.state
    return [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": _arn(synth, worker.worker.log_group),
        },
        {"Action": list(CONSUME_ACTIONS), "Effect": "Allow", "Resource": _arn(synth, jobs.queue)},
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": [_arn(synth, jobs.queue), _arn(synth, jobs.dlq)]},
        {
            "Action": list(TABLE_ACTIONS),
            "Effect": "Allow",
            "Resource": [_arn(synth, state.idempotency), _arn(synth, state.leases)],
        },
        {"Action": list(AUDIT_ACTIONS), "Effect": "Allow", "Resource": _arn(synth, state.audit)},
        # The registry of jobs: a Query on the leases table's index `jobs`, nothing else of it.
        {
            "Action": _one(JOBS_INDEX_ACTIONS),
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [_arn(synth, state.leases), "/index/jobs"]]},
        },
        # Locks and freezes: read together, on the leases table only.
        {"Action": _one(HOLDS_ACTIONS), "Effect": "Allow", "Resource": _arn(synth, state.leases)},
        {
            "Action": "secretsmanager:GetSecretValue",
            "Effect": "Allow",
            "Resource": {"Ref": synth.logical_id(synth.stack.slack.secret)},
        },
    ]


def _worker_statements(synth) -> list[dict]:
    return _normalized(_statements_of_role(synth, synth.stack.worker.worker.role))


def test_given_the_example_inventory_then_the_worker_role_holds_exactly_its_resources(synth):
    """inventory.example.toml: services payment-api and checkout-web on example-cluster, instances tagged
    Name=example-bastion, two log groups, a migration and a suite project, one pipeline."""
    assert _worker_statements(synth) == _normalized(
        [
            *_base_worker_statements(synth),
            {
                "Action": list(ECS_ACTIONS),
                "Effect": "Allow",
                "Resource": [
                    _regional("ecs", "service/example-cluster/checkout-web"),
                    _regional("ecs", "service/example-cluster/payment-api"),
                ],
            },
            {
                "Action": _one(EC2_REBOOT_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("ec2", "instance/*"),
                "Condition": {"StringEquals": {"aws:ResourceTag/Name": ["example-bastion"]}},
            },
            {
                "Action": list(EC2_READ_ACTIONS + QUERY_RESULTS_ACTIONS + TASK_DEFINITION_READ_ACTIONS),
                "Effect": "Allow",
                "Resource": "*",
            },
            {
                "Action": _one(LOGS_ACTIONS),
                "Effect": "Allow",
                "Resource": [
                    _regional("logs", "log-group:/ecs/example/checkout-web:*"),
                    _regional("logs", "log-group:/ecs/example/payment-api:*"),
                ],
            },
            {
                "Action": list(CODEBUILD_ACTIONS),
                "Effect": "Allow",
                "Resource": [
                    _regional("codebuild", "project/example-regression-smoke"),
                    _regional("codebuild", "project/payment-api-migrate"),
                ],
            },
            {
                "Action": _one(REPORT_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("codebuild", "report-group/example-regression-smoke-*"),
            },
            {
                "Action": _one(PIPELINE_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("codepipeline", "payment-api-pipeline"),
            },
        ]
    )


def test_given_another_inventory_then_the_worker_role_follows_it(other):
    assert _worker_statements(other) == _normalized(
        [
            *_base_worker_statements(other),
            {"Action": list(ECS_ACTIONS), "Effect": "Allow", "Resource": _regional("ecs", "service/prod-apps/api")},
            # Values of one tag key are alternatives; two keys are two statements (one condition would AND them).
            {
                "Action": _one(EC2_REBOOT_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("ec2", "instance/*"),
                "Condition": {"StringEquals": {"aws:ResourceTag/Name": ["bastion", "jump"]}},
            },
            {
                "Action": _one(EC2_REBOOT_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("ec2", "instance/*"),
                "Condition": {"StringEquals": {"aws:ResourceTag/Role": ["batch-worker"]}},
            },
            # No log groups: no logs:StartQuery, and logs:GetQueryResults is gone from "*" too.
            {"Action": list(EC2_READ_ACTIONS + TASK_DEFINITION_READ_ACTIONS), "Effect": "Allow", "Resource": "*"},
            {
                "Action": list(CODEBUILD_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("codebuild", "project/nightly-e2e"),
            },
            {
                "Action": _one(REPORT_ACTIONS),
                "Effect": "Allow",
                "Resource": _regional("codebuild", "report-group/nightly-e2e-*"),
            },
        ]
    )
    env = other.json["Resources"][other.logical_id(other.stack.worker.function)]["Properties"]["Environment"]
    assert "JENKINS_URL" not in env["Variables"]  # no Jenkins jobs, no Jenkins


def test_given_another_inventory_then_both_assets_change(synth, other):
    """The ack ships the inventory too: it applies the [policy] from its static lists."""

    def code(s, construct):
        return s.json["Resources"][s.logical_id(construct)]["Properties"]["Code"]["S3Key"]

    assert code(other, other.stack.worker.function) != code(synth, synth.stack.worker.function)
    assert code(other, other.stack.ingress.function) != code(synth, synth.stack.ingress.function)


def test_given_an_empty_inventory_then_the_operations_get_no_statement_and_no_wildcard():
    """An empty file is a valid inventory: the worker keeps its plumbing (queues, tables, secret) and nothing else."""
    from aws_cdk import App, Stack

    permissions = operation_permissions(Stack(App(), "Empty"), InventoryResources.of(Inventory()))
    assert (permissions.statements, permissions.wildcards) == ([], [])


def test_given_both_roles_then_they_are_distinct_and_assumable_by_lambda_only(synth):
    roles = synth.resources("AWS::IAM::Role")
    assert len(roles) == 2
    for role in roles.values():
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]
        assert "ManagedPolicyArns" not in role["Properties"]
    ack_role = synth.json["Resources"][synth.logical_id(synth.stack.ingress.function)]["Properties"]["Role"]
    worker_role = synth.json["Resources"][synth.logical_id(synth.stack.worker.function)]["Properties"]["Role"]
    assert ack_role != worker_role


def test_given_every_policy_then_only_unscopable_actions_get_a_bare_wildcard(synth):
    documents = [
        p["PolicyDocument"]
        for r in synth.resources("AWS::IAM::Role").values()
        for p in r["Properties"].get("Policies", [])
    ]
    documents += [p["Properties"]["PolicyDocument"] for p in synth.resources("AWS::IAM::Policy").values()]
    for statement in (s for d in documents for s in d["Statement"]):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        # Only actions AWS cannot scope to a resource may have "*" (Service Authorization Reference).
        assert "*" not in resources or set(actions) <= set(UNSCOPED_ACTIONS), json.dumps(statement)
        assert not any(a.endswith("*") for a in actions), json.dumps(statement)
