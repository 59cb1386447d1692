"""The local IAM evaluation: AWS's rules for identity policies, on the resource; unknown elements refuse."""

from __future__ import annotations

import pytest

from infra.devstack.iam_policy import UnsupportedPolicy, evaluate, remove_action

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/opsbot-audit"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:Query"], "Resource": TABLE},
        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{TABLE}/index/*"},
        {
            "Effect": "Allow",
            "Action": "ec2:RebootInstances",
            "Resource": "arn:aws:ec2:us-east-1:123456789012:instance/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/Name": ["bastion"]}},
        },
    ],
}


def test_an_action_is_allowed_only_on_the_resources_its_statement_names():
    assert evaluate([POLICY], "dynamodb:PutItem", TABLE) == "allow"
    assert evaluate([POLICY], "DynamoDB:putitem", TABLE) == "allow"  # actions match case-insensitively
    assert evaluate([POLICY], "dynamodb:PutItem", TABLE + "-other") == "implicit-deny"
    assert evaluate([POLICY], "dynamodb:BatchWriteItem", TABLE) == "implicit-deny"
    assert evaluate([POLICY], "dynamodb:Query", f"{TABLE}/index/jobs") == "allow"
    assert evaluate([POLICY], "dynamodb:PutItem", f"{TABLE}/index/jobs") == "implicit-deny"


def test_a_tag_condition_is_checked_against_the_resources_tags():
    instance = "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
    assert evaluate([POLICY], "ec2:RebootInstances", instance, {"aws:ResourceTag/Name": ["bastion"]}) == "allow"
    assert evaluate([POLICY], "ec2:RebootInstances", instance, {"aws:ResourceTag/Name": ["db"]}) == "implicit-deny"
    assert evaluate([POLICY], "ec2:RebootInstances", instance, {}) == "implicit-deny"


def test_an_explicit_deny_wins():
    deny = {"Statement": {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}}
    assert evaluate([POLICY, deny], "dynamodb:PutItem", TABLE) == "deny"


def test_an_element_the_local_check_cannot_judge_refuses_loudly():
    condition = {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}
    odd = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]}
    with pytest.raises(UnsupportedPolicy):
        evaluate([odd], "dynamodb:PutItem", TABLE)


def test_removing_a_grant_on_one_resource_keeps_it_on_the_others():
    other = TABLE + "-2"
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:GetItem"], "Resource": [TABLE, other]}
        ]
    }

    [edited] = remove_action([policy], "dynamodb:PutItem", TABLE)

    assert evaluate([edited], "dynamodb:PutItem", TABLE) == "implicit-deny"
    assert evaluate([edited], "dynamodb:PutItem", other) == "allow"
    assert evaluate([edited], "dynamodb:GetItem", TABLE) == "allow"
    [everywhere] = remove_action([policy], "dynamodb:PutItem")
    assert evaluate([everywhere], "dynamodb:PutItem", other) == "implicit-deny"
