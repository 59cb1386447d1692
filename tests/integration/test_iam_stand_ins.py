"""The worker's CodeBuild and CodePipeline calls go to the local stand-in (infra/devstack/codebuild.py), not to moto:
the stand-in checks them against the worker's role as the moto server checks the others, on the project's or the
pipeline's ARN, and a refusal is AWS's AccessDeniedException naming the action, the resource and the role."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.devstack.demo import MIGRATION_PROJECT, PIPELINE, demo_inventory_toml
from infra.devstack.deployed import RolePolicies, function_policies, iam_inventory, template
from infra.devstack.iam_policy import remove_action
from infra.devstack.roles import RoleCredentials, enforce_on_stand_ins, local_resources, provision_role, put_policies
from opsbot_testkit.harness import Harness
from tests.integration.test_operations import final

pytestmark = pytest.mark.integration

PROJECT_ARN = f"arn:aws:codebuild:us-east-1:123456789012:project/{MIGRATION_PROJECT}"
PIPELINE_ARN = f"arn:aws:codepipeline:us-east-1:123456789012:{PIPELINE}"


def _policies(h: Harness, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> RolePolicies:
    """The worker's policies as the template synthesizes them for the demo inventory, passed through `edit`."""
    deployed = template(iam_inventory(demo_inventory_toml(h.cluster)))
    policies = function_policies(deployed, "worker", local_resources(h.queues, h.tables))
    return RolePolicies(
        inline=[(name, edit([doc])[0]) for name, doc in policies.inline],
        managed=[(name, edit([doc])[0]) for name, doc in policies.managed],
    )


def _worker_role(h: Harness) -> RoleCredentials:
    """A session of the worker's role with the template's policy, checked by the local CodeBuild/CodePipeline."""
    assert h.codebuild is not None
    role = provision_role(h.moto.endpoint_url, f"opsbot-worker-{uuid.uuid4().hex[:8]}", _policies(h, lambda d: d))
    enforce_on_stand_ins(h.codebuild, h.moto.endpoint_url, role, denials_path=h.moto.denials_path)
    return role


def _client(h: Harness, role: RoleCredentials | None, service: str) -> Any:
    import boto3
    from botocore.config import Config

    assert h.codebuild is not None
    credentials = (
        role.client_kwargs() if role is not None else {"aws_access_key_id": "admin", "aws_secret_access_key": "x"}
    )
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=h.codebuild.url,
        config=Config(retries={"total_max_attempts": 1}),
        **credentials,
    )


def _start_build(h: Harness, role: RoleCredentials | None) -> Any:
    return _client(h, role, "codebuild").start_build(projectName=MIGRATION_PROJECT)


def _pipeline_state(h: Harness, role: RoleCredentials | None) -> Any:
    return _client(h, role, "codepipeline").get_pipeline_state(name=PIPELINE)


CALLS = {
    "codebuild:StartBuild on the migration project": ("codebuild:StartBuild", PROJECT_ARN, _start_build),
    "codepipeline:GetPipelineState on the pipeline": ("codepipeline:GetPipelineState", PIPELINE_ARN, _pipeline_state),
}


@pytest.mark.iam_denials
@pytest.mark.parametrize(("action", "resource", "call"), list(CALLS.values()), ids=list(CALLS))
def test_a_grant_removed_is_a_stand_in_call_refused_naming_action_resource_and_role(harness, action, resource, call):
    offset = harness.moto.denials()[1]
    role = _worker_role(harness)
    call(harness, role)  # the template's own policy allows it

    # The template without that one grant (the role's policy changed in moto applies at the next call).
    put_policies(
        harness.moto.endpoint_url, role.role_name, _policies(harness, lambda d: remove_action(d, action, resource))
    )
    with pytest.raises(ClientError) as denied:
        call(harness, role)

    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: arn:aws:sts::123456789012:assumed-role/{role.role_name} is not authorized to perform: {action} "
        f"on resource: {resource} because no identity-based policy allows it"
    )
    [denial] = harness.moto.denials(offset)[0]
    assert (denial.role, denial.action, denial.resource) == (role.role_name, action, resource)
    # Other credentials are not checked (provisioning, the tests' own look at the stand-in).
    call(harness, None)


@pytest.mark.iam_denials
def test_a_refused_start_build_starts_no_build(harness):
    role = _worker_role(harness)
    put_policies(
        harness.moto.endpoint_url,
        role.role_name,
        _policies(harness, lambda d: remove_action(d, "codebuild:StartBuild", PROJECT_ARN)),
    )
    with pytest.raises(ClientError, match="codebuild:StartBuild on resource: " + PROJECT_ARN):
        _start_build(harness, role)
    assert harness.codebuild.builds_of(MIGRATION_PROJECT) == []


def test_a_migration_runs_under_the_worker_role_at_the_stand_in_without_a_refusal(harness):
    """StartBuild, BatchGetBuilds (and the rest of /ops-migrate) are inside the template's grant; the autouse
    fixture fails this test on any refusal, here or in moto."""
    offset = harness.moto.denials()[1]
    job = harness.job("/ops-migrate payment 2024.06.1")
    harness.run(job)
    assert "Migration of `payment` to `2024.06.1` succeeded" in final(harness, job).text
    assert len(harness.codebuild.builds_of(MIGRATION_PROJECT)) == 1
    assert harness.moto.denials(offset)[0] == []
