"""The local stack's tables and queues are the template's: same keys, index, TTL, retention and receives; the
visibility timeout and the worker's timeout are the deployed ones scaled together."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from infra.devstack.aws import aws_client, provision_queues, provision_tables
from infra.devstack.demo import demo_inventory_toml
from infra.devstack.deployed import function_policies, iam_inventory, template
from infra.devstack.roles import local_resources
from infra.devstack.stack import LocalStack
from shared.deployment import DEPLOYED_TIMING, local_timing
from shared.settings import AUDIT_TABLE, IDEMPOTENCY_TABLE, LEASES_TABLE

pytestmark = pytest.mark.integration


def _resources(deployed: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in deployed["Resources"].values() if r["Type"] == kind]


def test_the_local_tables_have_the_templates_keys_index_and_ttl(moto_server):
    deployed = template(iam_inventory(demo_inventory_toml("cluster-tests")))
    suffix = uuid.uuid4().hex[:8]
    local_names = {IDEMPOTENCY_TABLE: f"i-{suffix}", LEASES_TABLE: f"l-{suffix}", AUDIT_TABLE: f"a-{suffix}"}
    dynamodb = aws_client("dynamodb", moto_server.endpoint_url)
    provision_tables(
        dynamodb,
        idempotency=local_names[IDEMPOTENCY_TABLE],
        leases=local_names[LEASES_TABLE],
        audit=local_names[AUDIT_TABLE],
    )

    tables = _resources(deployed, "AWS::DynamoDB::Table")
    assert sorted(t["TableName"] for t in tables) == sorted(local_names)
    for table in tables:
        local = dynamodb.describe_table(TableName=local_names[table["TableName"]])["Table"]
        assert local["KeySchema"] == table["KeySchema"], table["TableName"]
        assert sorted(local["AttributeDefinitions"], key=str) == sorted(table["AttributeDefinitions"], key=str)
        assert local["BillingModeSummary"]["BillingMode"] == table["BillingMode"]
        deployed_indexes = [
            (i["IndexName"], i["KeySchema"], i["Projection"]) for i in table.get("GlobalSecondaryIndexes", [])
        ]
        local_indexes = [
            (i["IndexName"], i["KeySchema"], i["Projection"]) for i in local.get("GlobalSecondaryIndexes", [])
        ]
        assert local_indexes == deployed_indexes, table["TableName"]
        ttl = dynamodb.describe_time_to_live(TableName=local["TableName"])["TimeToLiveDescription"]
        assert ttl["AttributeName"] == table["TimeToLiveSpecification"]["AttributeName"]


def test_the_local_queues_have_the_templates_redrive_and_retention_and_a_scaled_clock(moto_server, sqs):
    deployed = template(iam_inventory(demo_inventory_toml("cluster-tests")))
    [jobs] = [q for q in _resources(deployed, "AWS::SQS::Queue") if "RedrivePolicy" in q]
    [dlq] = [q for q in _resources(deployed, "AWS::SQS::Queue") if "RedrivePolicy" not in q]
    [worker] = [f for f in _resources(deployed, "AWS::Lambda::Function") if f["Handler"].startswith("worker_function")]
    timing = local_timing()

    queues = provision_queues(
        sqs, name=f"jobs-{uuid.uuid4().hex[:8]}", visibility_timeout=int(timing.visibility_timeout_s)
    )

    local = sqs.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    local_dlq = sqs.get_queue_attributes(QueueUrl=queues.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(local["MessageRetentionPeriod"]) == jobs["MessageRetentionPeriod"]
    assert int(local_dlq["MessageRetentionPeriod"]) == dlq["MessageRetentionPeriod"]
    redrive = json.loads(local["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == jobs["RedrivePolicy"]["maxReceiveCount"]
    assert redrive["deadLetterTargetArn"] == queues.dlq_arn
    # The deployed clock is the template's; the local one is it scaled by one factor.
    assert (jobs["VisibilityTimeout"], worker["Timeout"]) == (
        DEPLOYED_TIMING.visibility_timeout_s,
        DEPLOYED_TIMING.function_timeout_s,
    )
    factor = timing.visibility_timeout_s / jobs["VisibilityTimeout"]
    assert int(local["VisibilityTimeout"]) == timing.visibility_timeout_s
    assert timing.function_timeout_s == pytest.approx(worker["Timeout"] * factor)
    assert timing.problems() == []


def test_the_local_stacks_worker_context_expires_before_the_message_comes_back():
    """An interrupted job's in-progress record lasts the worker's (scaled) timeout: below the visibility timeout."""
    stack = LocalStack(port=0, visibility_timeout=6)
    assert stack.timing.visibility_timeout_s == 6
    assert stack.timing.function_timeout_s == pytest.approx(1.0)
    assert stack.timing.in_progress_expiry_s < stack.timing.visibility_timeout_s


#: Who may trigger opsbot besides the workspace's people: read by the ack, never by the CDK app.
INTAKE = """
[intake]
allowed_bots = ["B0DEPLOYBOT"]
allowed_teams = ["T0PARTNER"]
"""


def test_each_functions_role_is_the_same_synthesized_with_or_without_the_inventorys_policy_and_intake(queues, tables):
    """The roles are provisioned from the template of the inventory cut to what IAM depends on (`iam_inventory`,
    one synth for inventories that differ only in who may run what): that template grants each function exactly
    what the whole inventory's template grants it."""
    whole = demo_inventory_toml("cluster-tests") + INTAKE
    cut = iam_inventory(whole)
    assert "[policy" not in cut and "[intake" not in cut and "[targets.payment]" in cut
    local = local_resources(queues, tables)
    for function in ("ack", "worker"):
        assert function_policies(template(cut), function, local) == function_policies(template(whole), function, local)
