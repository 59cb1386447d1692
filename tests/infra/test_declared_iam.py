"""The worker's IAM comes from what each operation declares: the synth checks every operation first, so one
that calls what it does not declare (or changes a target outside its effects) fails the synth, naming it."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk")

from infra.aws import worker_permissions
from infra.aws.worker_permissions import InventoryResources, actions_on, declared_grants, operation_permissions
from shared.inventory import Inventory
from worker_function.operations import registry
from worker_function.operations.registry import OperationLoadError


@pytest.fixture
def undeclared_scale(monkeypatch):
    """`/ops-scale` found at an operation that calls ecs:UpdateService without declaring it."""
    found_at = registry.location_of
    monkeypatch.setattr(
        registry,
        "location_of",
        lambda kind: "tests.unit.command_rule_cases:UNDECLARED" if kind == "scale" else found_at(kind),
    )
    registry._load.cache_clear()
    declared_grants.cache_clear()
    yield
    registry._load.cache_clear()
    declared_grants.cache_clear()


def test_an_operation_calling_an_action_it_does_not_declare_fails_the_synth_naming_it(undeclared_scale):
    from aws_cdk import App, Stack

    with pytest.raises(OperationLoadError, match=r"^/ops-scale \(scale\): it calls ecs:UpdateService \("):
        operation_permissions(Stack(App(), "Checked"), InventoryResources.of(Inventory()))


def test_each_kind_of_resource_is_granted_the_union_of_what_the_operations_declare_on_it():
    declared = {(grant.on, grant.unscoped, action) for _, grant in declared_grants() for action in grant.actions}
    derived = {
        (kind, unscoped, action)
        for kind in {grant.on for _, grant in declared_grants()}
        for unscoped in (False, True)
        for action in actions_on(kind, unscoped=unscoped)
    }
    assert derived == declared
    named = {(kind, unscoped) for kind, unscoped in worker_permissions._NAMED.values()}
    assert all(
        worker_permissions.__getattr__(n) == actions_on(k, unscoped=u)
        for n, (k, u) in worker_permissions._NAMED.items()
    )
    assert named <= {(g.on, g.unscoped) for _, g in declared_grants()}
    assert {label for label, _ in declared_grants()} >= {
        "/ops-status (status)",
        "/deploy-status (deploy_status)",
        "/ops-restart (restart)",
        "/ops-rollback (rollback)",
        "/ops-scale (scale)",
        "/ops-logs (logs)",
        "/ops-migrate (migrate)",
        "/ops-regression (regression)",
    }
