"""The local stack with two moto accounts, through `opsbot send`'s path (signed request -> ack -> SQS -> worker
-> local Slack): `payment-eu` lives in account 222222222222 (eu-west-1), and a restart of it acts there; a
dry run shows what a restart or a migration would do, and changes nothing, takes no lease, is audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.devstack.aws import DEMO_CLUSTER, aws_client
from infra.devstack.client import run_command
from infra.devstack.demo import MIGRATION_PROJECT, OTHER_ACCOUNT, OTHER_CLUSTER, OTHER_REGION, other_account_client
from infra.devstack.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


def deployments(ecs: Any, cluster: str) -> list[str]:
    [service] = ecs.describe_services(cluster=cluster, services=["payment"])["services"]
    return sorted(d["id"] for d in service["deployments"])


def final_text(outcome: Any) -> str:
    finals = [m for m in outcome.messages if m.final]
    assert len(finals) == 1, [m.text for m in outcome.messages]
    return str(finals[0].text)


def audit_events(stack: LocalStack, target: str) -> list[dict[str, Any]]:
    assert stack.provisioned is not None
    dynamodb = aws_client("dynamodb", stack.endpoint_url)
    items = dynamodb.query(
        TableName=stack.provisioned.tables.audit,
        KeyConditionExpression="#t = :t",
        ExpressionAttributeNames={"#t": "target"},
        ExpressionAttributeValues={":t": {"S": target}},
    )["Items"]
    return [{k: v.get("S") for k, v in item.items()} for item in items]


def lease_of(stack: LocalStack, target: str) -> dict[str, Any] | None:
    assert stack.provisioned is not None
    item = aws_client("dynamodb", stack.endpoint_url).get_item(
        TableName=stack.provisioned.tables.leases, Key={"target": {"S": target}}, ConsistentRead=True
    )
    return item.get("Item")


def test_a_restart_of_a_target_in_the_second_account_acts_there_and_not_in_the_workers(stack):
    eu = other_account_client("ecs", stack.endpoint_url)
    before = deployments(eu, OTHER_CLUSTER)

    outcome = run_command("/ops-restart payment-eu", stack.target, timeout=30, emit=lambda _: None)

    assert outcome.ok, (outcome.error, [m.text for m in outcome.messages])
    after = deployments(eu, OTHER_CLUSTER)
    [new] = set(after) - set(before)  # one new deployment, in account 222222222222's cluster
    text = final_text(outcome)
    assert "Restart of `payment-eu` completed" in text and f"cluster `{OTHER_CLUSTER}`" in text and new in text
    [service] = eu.describe_services(cluster=OTHER_CLUSTER, services=["payment"])["services"]
    assert f":{OTHER_ACCOUNT}:" in service["serviceArn"] and f":{OTHER_REGION}:" in service["serviceArn"]
    for region in (OTHER_REGION, stack.region):  # the worker's own account has no such cluster anywhere
        own = aws_client("ecs", stack.endpoint_url, region).list_clusters()["clusterArns"]
        assert not any(OTHER_CLUSTER in arn for arn in own)
    own_payment = aws_client("ecs", stack.endpoint_url, stack.region)
    assert new not in deployments(own_payment, DEMO_CLUSTER)


def test_a_dry_run_of_a_restart_shows_the_account_state_rule_and_lease_and_changes_nothing(stack):
    eu = other_account_client("ecs", stack.endpoint_url)
    before = deployments(eu, OTHER_CLUSTER)

    outcome = run_command("/ops-restart payment-eu --dry-run", stack.target, timeout=20, emit=lambda _: None)

    assert outcome.ok and not outcome.prompted, outcome.error
    text = final_text(outcome)
    assert "Dry run of `/ops-restart payment-eu --dry-run`: nothing was changed" in text
    assert f"In account {OTHER_ACCOUNT}" in text and OTHER_REGION in text
    assert "force a new deployment of `payment`" in text and "2/2 tasks running" in text
    assert "Allowed by rule `demo-prod-operators`" in text and "No confirmation asked" in text
    assert "Not locked" in text
    assert deployments(eu, OTHER_CLUSTER) == before
    assert lease_of(stack, "payment-eu") is None
    assert [e["event"] for e in audit_events(stack, "payment-eu") if e["job_id"].startswith(outcome.job or "-")] == [
        "dry_run"
    ]


def test_a_dry_run_of_a_migration_asks_nothing_starts_no_build_and_says_a_prompt_would_be_asked(stack):
    started = len(stack.codebuild.builds_of(MIGRATION_PROJECT))

    outcome = run_command("/ops-migrate --dry-run payment v42", stack.target, timeout=20, emit=lambda _: None)

    assert outcome.ok and not outcome.prompted, outcome.error  # no Confirm / Cancel prompt for a dry run
    text = final_text(outcome)
    assert "start CodeBuild project `payment-migrate` with MIGRATION_VERSION=v42" in text
    assert "Would ask you to confirm first" in text and "Allowed by rule `demo-prod-operators`" in text
    assert "In the worker's own account" in text
    assert len(stack.codebuild.builds_of(MIGRATION_PROJECT)) == started
    assert lease_of(stack, "payment") is None
    events = [e for e in audit_events(stack, "payment") if e["job_id"].startswith(outcome.job or "-")]
    assert [e["event"] for e in events] == ["dry_run"] and events[0]["detail"].startswith("allowed by rule")
