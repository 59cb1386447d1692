"""IAM's and CloudFormation's quotas, which synth, cdk-nag and cfn-lint do not check: a generated inventory of 200
targets of every kind synthesizes within all of them with the worker's permissions unchanged (packed, not
widened), and an inventory too big for them fails the synth naming the document, its size and the quota."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from infra.aws import quotas
from infra.aws.config import ConfigError
from infra.aws.policy_packing import pack, statements_of_role
from infra.aws.quotas import Figure, managed_policies_per_role, measure, over_quota
from infra.aws.worker_permissions import (
    ASSUME_ROLE_ACTIONS,
    CODEBUILD_ACTIONS,
    EC2_REBOOT_ACTIONS,
    ECS_ACTIONS,
    LOGS_ACTIONS,
    PIPELINE_ACTIONS,
    REPORT_ACTIONS,
    UNSCOPED_ACTIONS,
    InventoryResources,
    operation_permissions,
    placements,
)
from shared.inventory import Inventory
from tests.infra.conftest import CDK_JSON_CONTEXT, JENKINS_URL, SKIP_BUNDLING
from tests.infra.inventories import WORKER_ACCOUNT, mixed, payment_like

OPERATION_ACTIONS = set(
    ECS_ACTIONS
    + EC2_REBOOT_ACTIONS
    + UNSCOPED_ACTIONS
    + LOGS_ACTIONS
    + CODEBUILD_ACTIONS
    + REPORT_ACTIONS
    + PIPELINE_ACTIONS
    + ASSUME_ROLE_ACTIONS
)


def _grants(statements: list[dict[str, Any]], actions: set[str] | None = None) -> set[tuple[str, str, str]]:
    """Every (action, resource, condition) a list of statements allows: what packing must keep exactly."""
    found = set()
    for s in statements:
        assert s["Effect"] == "Allow"
        for action in s["Action"] if isinstance(s["Action"], list) else [s["Action"]]:
            if actions is not None and action not in actions:
                continue
            for resource in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
                found.add(
                    (action, json.dumps(resource, sort_keys=True), json.dumps(s.get("Condition"), sort_keys=True))
                )
    return found


def _synth_all(tmp_path: Path, inventory_toml: str, **context: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    """`cdk synth` of this inventory (bundling skipped): the app's stacks' templates by stack name."""
    from infra.aws.app import build_app

    path = tmp_path / "inventory.toml"
    path.write_text(inventory_toml)
    app, stack = build_app(
        {
            **CDK_JSON_CONTEXT,
            **SKIP_BUNDLING,
            "inventory": str(path),
            "jenkinsUrl": JENKINS_URL,
            "workerAccount": WORKER_ACCOUNT,
            "aws:cdk:outdir": str(tmp_path / "cdk.out"),
            **context,
        }
    )
    assembly = app.synth()
    templates = {
        s.stack_name: json.loads((Path(assembly.directory) / s.template_file).read_text()) for s in assembly.stacks
    }
    return stack, templates


# -- the measure itself ------------------------------------------------------------------------------------------


def _role(policy_chars: int, *, managed: int = 0, trust_chars: int = 100) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "x" * policy_chars}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Sid": "t" * trust_chars}]},
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}],
            "ManagedPolicyArns": [{"Ref": f"M{i}"} for i in range(managed)],
        },
    }


def test_each_quota_is_measured_and_an_oversized_document_is_named_with_its_size():
    template = {
        "Resources": {
            "Small": _role(100),
            "BigInline": _role(10_300),
            "ManyManaged": _role(10, managed=11),
            "LongTrust": _role(10, trust_chars=2_100),
            "Managed": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {"Statement": [{"Resource": "y" * 6_200}]},
                    "Roles": [{"Ref": "Small"}],
                },
            },
        }
    }
    over = {(f.logical_id, f.what): f for f in over_quota(measure(template, "S"))}
    assert set(over) == {
        ("BigInline", "inline policies"),
        ("ManyManaged", "managed policies attached"),
        ("LongTrust", "trust policy"),
        ("Managed", "managed policy"),
    }
    assert str(over[("Managed", "managed policy")]).startswith("S/Managed managed policy: 6,2")
    assert str(over[("Managed", "managed policy")]).endswith(" of 6,144 characters")
    assert over[("ManyManaged", "managed policies attached")].size == 11


def test_whitespace_is_not_counted_and_intrinsics_count_at_their_longest():
    document = {"Statement": [{"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b"]]}}]}
    template = {
        "Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": document}]}}}
    }
    [inline] = [f for f in measure(template, "S") if f.what == "inline policies"]
    assert inline.size == len('{"Statement":[{"Resource":"arn:aws-us-gov:s3:::b"}]}')


def test_the_template_size_and_resource_count_are_checked():
    resources = {f"Q{i}": {"Type": "AWS::SQS::Queue", "Properties": {}} for i in range(501)}
    [count] = [f for f in measure({"Resources": resources}, "S") if f.what == "resources"]
    assert count.over and str(count) == "S/(template) resources: 501 of 500 resources"


def test_the_managed_policy_quota_is_the_default_unless_the_account_raised_it():
    assert managed_policies_per_role(None) == 10
    assert managed_policies_per_role("20") == 20
    for wrong in ("21", "9", "lots"):
        with pytest.raises(ConfigError, match="iamManagedPoliciesPerRole"):
            managed_policies_per_role(wrong)


# -- packing -----------------------------------------------------------------------------------------------------


def test_packing_moves_statements_between_documents_and_grants_exactly_the_same():
    from aws_cdk import App, Stack
    from aws_cdk import aws_iam as iam

    stack = Stack(App(), "Scratch")
    inventory = Inventory.from_toml(payment_like(120))
    found = operation_permissions(stack, InventoryResources.of(inventory))
    own = [iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["arn:aws:sqs:us-east-1:1:q"])]
    placed = pack(stack, own, found.statements)

    def resolved(statements: list[Any]) -> list[dict[str, Any]]:
        return [stack.resolve(s.to_statement_json()) for s in statements]

    documents = [placed.inline, *placed.managed]
    assert len(placed.managed) >= 3  # it did have to pack
    assert resolved(placed.inline)[0] == resolved(own)[0]  # the role's own statements stay inline, first
    every = [s for d in documents for s in resolved(d)]
    assert _grants(every) == _grants(resolved(own) + resolved(found.statements))
    for document, quota in zip(documents, [quotas.ROLE_INLINE_CHARS] + [quotas.MANAGED_POLICY_CHARS] * 9, strict=False):
        rendered = quotas._Renderer({}, "Scratch").text({"Version": "2012-10-17", "Statement": resolved(document)})
        assert quotas.document_size(rendered) <= quota


# -- synthesized -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_hundred(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, dict[str, Any]]]:
    return _synth_all(tmp_path_factory.mktemp("two-hundred"), mixed(200))


def test_two_hundred_targets_of_every_kind_synthesize_within_every_quota(two_hundred, capsys):
    _, templates = two_hundred
    figures: list[Figure] = [f for name, t in templates.items() for f in measure(t, name)]
    with capsys.disabled():
        print("\nquota figures, 200 mixed targets (tests/infra/inventories.py mixed 200):")
        for figure in figures:
            print(("  OVER " if figure.over else "       ") + str(figure))
    assert over_quota(figures) == []
    kinds = {f.what for f in figures}
    assert {"template", "resources", "trust policy", "inline policies", "managed policy", "event pattern"} <= kinds
    assert len(templates) == 5  # the opsbot stack and one per other account's role


def test_two_hundred_targets_keep_exactly_the_derived_permissions(two_hundred):
    stack, templates = two_hundred
    template = templates[stack.stack_name]
    role_id = stack.resolve(stack.worker.worker.role.node.default_child.logical_id)
    granted = _grants(statements_of_role(template, role_id), OPERATION_ACTIONS)
    inventory = stack.config.inventory
    expected: list[dict[str, Any]] = []
    for role_arn, region in placements(inventory):
        if role_arn is None:
            found = operation_permissions(stack, InventoryResources.of(inventory, region=region), region=region)
            expected += [stack.resolve(s.to_statement_json()) for s in found.statements]
    expected.append({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": inventory.role_arns()})
    assert granted == _grants(expected)
    assert template["Resources"][role_id]["Properties"]["ManagedPolicyArns"]  # packed into managed policies


def test_an_inventory_too_big_for_the_quotas_fails_the_synth_with_the_figure(tmp_path):
    # 320 targets like `payment`: about 100,000 characters of statements, more than 10 managed policies hold
    with pytest.raises(RuntimeError, match="ValidationFailed") as failed:
        _synth_all(tmp_path, payment_like(320))
    # The report, as `cdk synth` shows it, names the role, the figure and the quota
    report = str(failed.value)
    assert "over its quota: Opsbot/WorkerRole" in report
    assert "managed policies attached: 18 of 10 policies" in report
