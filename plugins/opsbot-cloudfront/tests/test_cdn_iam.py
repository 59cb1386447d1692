"""What the CDK app grants the worker for /cdn-invalidate: the plugin's declared actions, on exactly the inventory's
distributions (CloudFront's ARNs name no region), and nothing when no target has one."""

import json

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk import App, Stack

from infra.aws.worker_permissions import InventoryResources, operation_permissions
from shared.inventory import Inventory

ACTIONS = [
    "cloudfront:CreateInvalidation",
    "cloudfront:GetDistribution",
    "cloudfront:GetInvalidation",
    "cloudfront:ListInvalidations",
]


def statements(toml: str) -> list[dict]:
    stack = Stack(App(), "Grants")
    found = operation_permissions(stack, InventoryResources.of(Inventory.from_toml(toml)))
    return [stack.resolve(statement.to_statement_json()) for statement in found.statements]


def test_the_worker_may_invalidate_the_inventorys_distributions_and_nothing_else():
    granted = statements(
        '[targets.web]\ncloudfront = { distribution_id = "E2QWRUHEXAMPLE" }\n'
        '[targets.docs]\ncloudfront = { distribution_id = "E3DOCSEXAMPLE1" }\n'
    )

    [statement] = granted
    assert sorted(statement["Action"]) == ACTIONS
    arns = [json.dumps(resource) for resource in statement["Resource"]]
    assert len(arns) == 2 and all(":cloudfront::" in arn for arn in arns)
    assert any("distribution/E2QWRUHEXAMPLE" in arn for arn in arns) and "*" not in statement["Resource"]


def test_no_distribution_no_cloudfront_permission():
    granted = statements('[targets.payment]\necs = { cluster = "c", service = "payment" }\n')

    assert not any("cloudfront" in json.dumps(statement) for statement in granted)
