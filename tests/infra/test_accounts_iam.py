"""Other AWS accounts: with a two-account inventory, `cdk synth` produces the opsbot stack, whose worker may
assume exactly the roles the inventory names, and a stack per role holding that role, trusted by the worker's
role alone, with exactly the permissions of the targets reached through it (statements exactly)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from infra.aws.config import ConfigError
from infra.aws.worker_permissions import (
    EC2_READ_ACTIONS,
    EC2_REBOOT_ACTIONS,
    ECS_ACTIONS,
    LOGS_ACTIONS,
    QUERY_RESULTS_ACTIONS,
    TASK_DEFINITION_READ_ACTIONS,
)
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_iam import _base_worker_statements, _normalized, _one, _regional, _statements_of_role

ROLE = "arn:aws:iam::222222222222:role/opsbot-target"
PATH_ROLE = "arn:aws:iam::333333333333:role/ops/opsbot"
TWO_ACCOUNTS = f"""\
[accounts.prod-eu]
role_arn = "{ROLE}"
region = "eu-west-1"

[targets.home]
ecs = {{ cluster = "home", service = "api" }}

[targets.api-west]
region = "us-west-2"
ecs = {{ cluster = "west", service = "api" }}

[targets.payment-eu]
environment = "prod"
account = "prod-eu"
ecs = {{ cluster = "eu", service = "payment" }}
log_groups = ["/eu/payment"]

[targets.bastion-eu]
account = "prod-eu"
ec2 = {{ tag = "Name", value = "bastion-eu" }}

[targets.ledger]
role_arn = "{PATH_ROLE}"
ecs = {{ cluster = "books", service = "ledger" }}
"""
WORKER_ACCOUNT = "111111111111"


def _in(region: str, service: str, resource: str) -> dict[str, Any]:
    """An ARN in a region the inventory names (the account stays the deploying stack's)."""
    return {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":{service}:{region}:", {"Ref": "AWS::AccountId"}, f":{resource}"],
        ]
    }


def _sorted(statements: list[dict]) -> list[dict]:
    return sorted(_normalized(statements), key=json.dumps)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    path = tmp_path_factory.mktemp("accounts") / "inventory.toml"
    path.write_text(TWO_ACCOUNTS)
    return synthesize(inventory=str(path), workerAccount=WORKER_ACCOUNT)


def _template(stack: Any) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    return dict(Template.from_stack(stack).to_json())


def _role(stack: Any) -> dict[str, Any]:
    [role] = [r for r in _template(stack)["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return dict(role["Properties"])


def test_cdk_synth_produces_the_opsbot_stack_and_one_stack_per_other_accounts_role(two):
    assembly = two.app.synth()

    names = sorted(s.stack_name for s in assembly.stacks)
    assert names == ["Opsbot", "OpsbotTarget-222222222222-opsbot-target", "OpsbotTarget-333333333333-opsbot"]


def test_the_worker_may_assume_exactly_the_named_roles_and_acts_itself_only_on_its_own_accounts_targets(two):
    statements = _statements_of_role(two, two.stack.worker.worker.role)

    assert _sorted(statements) == _sorted(
        [
            *_base_worker_statements(two),
            {
                "Action": list(ECS_ACTIONS),
                "Effect": "Allow",
                # Its own account: the stack's region, and us-west-2 that api-west names (one statement, merged).
                "Resource": [_regional("ecs", "service/home/api"), _in("us-west-2", "ecs", "service/west/api")],
            },
            {"Action": list(TASK_DEFINITION_READ_ACTIONS), "Effect": "Allow", "Resource": "*"},
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": [PATH_ROLE, ROLE]},
        ]
    )
    worker_role = two.json["Resources"][two.logical_id(two.stack.worker.worker.role)]["Properties"]
    assert worker_role["RoleName"] == "opsbot-worker"


def test_each_accounts_role_trusts_the_worker_alone_and_holds_exactly_its_targets_permissions(two):
    eu, books = two.stack.target_accounts

    role = _role(eu)
    assert (role["RoleName"], role["Path"]) == ("opsbot-target", "/")
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{WORKER_ACCOUNT}:role/opsbot-worker"},
        }
    ]
    assert "ManagedPolicyArns" not in role
    [policy] = role["Policies"]
    assert _sorted(policy["PolicyDocument"]["Statement"]) == _sorted(
        [
            {"Action": list(ECS_ACTIONS), "Effect": "Allow", "Resource": _in("eu-west-1", "ecs", "service/eu/payment")},
            {
                "Action": _one(EC2_REBOOT_ACTIONS),
                "Effect": "Allow",
                "Resource": _in("eu-west-1", "ec2", "instance/*"),
                "Condition": {"StringEquals": {"aws:ResourceTag/Name": ["bastion-eu"]}},
            },
            {
                "Action": list(EC2_READ_ACTIONS + QUERY_RESULTS_ACTIONS + TASK_DEFINITION_READ_ACTIONS),
                "Effect": "Allow",
                "Resource": "*",
            },
            {
                "Action": _one(LOGS_ACTIONS),
                "Effect": "Allow",
                "Resource": _in("eu-west-1", "logs", "log-group:/eu/payment:*"),
            },
        ]
    )

    books_role = _role(books)
    assert (books_role["RoleName"], books_role["Path"]) == ("opsbot", "/ops/")
    [books_policy] = books_role["Policies"]
    assert _normalized(books_policy["PolicyDocument"]["Statement"]) == _normalized(
        [
            {"Action": list(ECS_ACTIONS), "Effect": "Allow", "Resource": _regional("ecs", "service/books/ledger")},
            {"Action": list(TASK_DEFINITION_READ_ACTIONS), "Effect": "Allow", "Resource": "*"},
        ]
    )


def test_without_other_accounts_the_worker_role_keeps_a_generated_name_and_no_assume_role(synth):
    worker_role = synth.json["Resources"][synth.logical_id(synth.stack.worker.worker.role)]["Properties"]

    assert "RoleName" not in worker_role
    assert synth.stack.target_accounts == []
    assert not [s for s in _statements_of_role(synth, synth.stack.worker.worker.role) if "sts:" in json.dumps(s)]


def test_roles_in_other_accounts_need_the_workers_account_at_synth(tmp_path: Path):
    path = tmp_path / "inventory.toml"
    path.write_text(TWO_ACCOUNTS)

    with pytest.raises(ConfigError, match="workerAccount"):
        synthesize(inventory=str(path))


#: A runbook's existing state machine in another account (through prod-eu's role, which its targets use too) and one
#: in an account no target is in (its role only for the runbook).
FAILOVER = "arn:aws:states:eu-west-1:222222222222:stateMachine:failover"
DR_ROLE = "arn:aws:iam::444444444444:role/opsbot-dr"
DRILL = "arn:aws:states:us-east-1:444444444444:stateMachine:drill"
RUNBOOKS_ELSEWHERE = f"""\
[accounts.dr]
role_arn = "{DR_ROLE}"

[runbooks.failover]
state_machine_arn = "{FAILOVER}"
account = "prod-eu"
environment = "prod"

[runbooks.drill]
state_machine_arn = "{DRILL}"
account = "dr"
"""


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    path = tmp_path_factory.mktemp("runbook-accounts") / "inventory.toml"
    path.write_text(TWO_ACCOUNTS + RUNBOOKS_ELSEWHERE)
    return synthesize(inventory=str(path), workerAccount=WORKER_ACCOUNT)


def _states_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _sorted([s for s in statements if "states:" in json.dumps(s["Action"])])


def test_a_runbook_in_another_account_gets_the_workers_states_grants_in_that_accounts_role_and_none_at_home(
    elsewhere,
):
    from infra.aws.worker_permissions import actions_on

    machine_actions, execution_actions = list(actions_on("state_machine")), list(actions_on("execution"))
    assert {"states:StartExecution", "states:SendTaskSuccess", "states:SendTaskFailure"} <= set(machine_actions)
    assert {"states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"} <= set(execution_actions)

    def grants(machine: str) -> list[dict[str, Any]]:
        executions = machine.replace(":stateMachine:", ":execution:") + ":*"
        return _sorted(
            [
                {"Action": machine_actions, "Effect": "Allow", "Resource": machine},
                {"Action": execution_actions, "Effect": "Allow", "Resource": executions},
            ]
        )

    eu, books, dr = elsewhere.stack.target_accounts
    [eu_policy] = _role(eu)["Policies"]
    assert _states_statements(eu_policy["PolicyDocument"]["Statement"]) == grants(FAILOVER)
    # An account with no target, only a runbook: a stack of its own, its role holding exactly the runbook's grants.
    assert dr.stack_name == "OpsbotTarget-444444444444-opsbot-dr"
    dr_role = _role(dr)
    assert dr_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{WORKER_ACCOUNT}:role/opsbot-worker"
    }
    [dr_policy] = dr_role["Policies"]
    assert _sorted(dr_policy["PolicyDocument"]["Statement"]) == grants(DRILL)
    [books_policy] = _role(books)["Policies"]
    assert _states_statements(books_policy["PolicyDocument"]["Statement"]) == []

    # The worker's own role: no states grant on another account's machines; it may assume the runbooks' roles.
    worker = _statements_of_role(elsewhere, elsewhere.stack.worker.worker.role)
    assert _states_statements(worker) == []
    [assume] = [s for s in worker if s["Action"] == "sts:AssumeRole"]
    assert sorted(assume["Resource"]) == sorted([DR_ROLE, PATH_ROLE, ROLE])
