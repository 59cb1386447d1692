"""A runbook defined in the repository: deployed as a state machine with a role of its own (its tasks granted on
the inventory's resources only), and the worker granted exactly the Step Functions calls it makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.aws.runbooks import definitions, grant_of
from infra.aws.worker_permissions import actions_on
from shared.inventory import Inventory, InventoryError
from shared.runbooks import (
    EXPIRY_GRACE_S,
    DefinitionError,
    load_definition,
    waiting_timeout_s,
    with_waiting_timeouts,
)
from tests.infra.conftest import ROOT, synthesize

RUNBOOK_INVENTORY = """\
version = 1

[targets.payment]
environment = "prod"
ecs = { cluster = "prod-apps", service = "payment-api" }

[targets.checkout]
environment = "prod"
ecs = { cluster = "prod-apps", service = "checkout" }

[targets.other]
environment = "staging"
ecs = { cluster = "staging-apps", service = "other" }

[runbooks.restart-safely]
definition = "runbooks/restart-safely.asl.json"
environment = "prod"
targets = ["payment", "checkout"]
"""


@pytest.fixture(scope="module")
def synth_runbooks(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("inventory") / "inventory.toml"
    path.write_text(RUNBOOK_INVENTORY)
    return synthesize(inventory=str(path))


def _statements(synth, role_id: str) -> list[dict]:
    found = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_runbook_is_a_state_machine_with_its_own_least_privilege_role(synth_runbooks):
    _, machine = synth_runbooks.only("AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    assert props["StateMachineName"] == "opsbot-restart-safely"
    deployed = json.loads(props["DefinitionString"]) if isinstance(props["DefinitionString"], str) else None
    # The definition file, its waiting state's TimeoutSeconds derived from approval_minutes (60 by default).
    written = load_definition(ROOT / "runbooks/restart-safely.asl.json")
    assert "TimeoutSeconds" not in written["States"]["Ask a second person"]
    assert deployed is not None and deployed["States"]["Ask a second person"]["TimeoutSeconds"] == 60 * 60 + 300
    deployed["States"]["Ask a second person"].pop("TimeoutSeconds")
    assert deployed == written
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    role = synth_runbooks.json["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    statements = _statements(synth_runbooks, role_id)
    ecs = [s for s in statements if any(a.startswith("ecs:") for a in _as_list(s["Action"]))]
    assert len(ecs) == 1
    assert sorted(_as_list(ecs[0]["Action"])) == ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = json.dumps(ecs[0]["Resource"])
    assert "service/prod-apps/payment-api" in resources and "service/prod-apps/checkout" in resources
    assert "staging-apps" not in resources  # a target the runbook does not name
    sqs = [s for s in statements if "sqs:SendMessage" in _as_list(s["Action"])]
    assert len(sqs) == 1 and "Fn::GetAtt" in json.dumps(sqs[0]["Resource"])
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert all(a.startswith(("logs:", "xray:")) for s in wildcard for a in _as_list(s["Action"]))


def test_the_worker_gets_exactly_its_step_functions_calls(synth_runbooks):
    worker = next(
        k
        for k, v in synth_runbooks.resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == "worker_function.handler.lambda_handler"
    )
    role_id = synth_runbooks.json["Resources"][worker]["Properties"]["Role"]["Fn::GetAtt"][0]
    own = synth_runbooks.json["Resources"][role_id]["Properties"].get("Policies", [])
    statements = (
        [s for p in own for s in p["PolicyDocument"]["Statement"]]
        + [
            s
            for p in synth_runbooks.resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"].get("Roles", [])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        + [
            s
            for p in synth_runbooks.resources("AWS::IAM::ManagedPolicy").values()
            if {"Ref": role_id} in p["Properties"].get("Roles", [])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
    )
    states = [s for s in statements if any(a.startswith("states:") for a in _as_list(s["Action"]))]
    actions = sorted(a for s in states for a in _as_list(s["Action"]))
    machine_actions, execution_actions = actions_on("state_machine"), actions_on("execution")
    assert machine_actions == (
        "states:DescribeStateMachine",
        "states:SendTaskFailure",
        "states:SendTaskSuccess",
        "states:StartExecution",
    )
    assert execution_actions == ("states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution")
    assert actions == sorted(machine_actions + execution_actions)
    machine_id, _ = synth_runbooks.only("AWS::StepFunctions::StateMachine")
    by_action = {a: json.dumps(s["Resource"]) for s in states for a in _as_list(s["Action"])}
    for action in machine_actions:
        assert "stateMachine:opsbot-restart-safely" in by_action[action]
    for action in execution_actions:
        assert ":execution:opsbot-restart-safely:*" in by_action[action]
    environment = synth_runbooks.json["Resources"][worker]["Properties"]["Environment"]["Variables"]
    assert machine_id in json.dumps(environment["OPSBOT_RUNBOOK_ARNS"])


def test_a_definition_calling_what_opsbot_cannot_scope_is_refused_naming_the_state():
    document = {
        "StartAt": "Invoke",
        "States": {"Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
    }
    with pytest.raises(DefinitionError, match="state 'Invoke' uses 'arn:aws:states:::lambda:invoke'"):
        grant_of(document, has_ecs=True)


def test_a_runbook_whose_definition_is_missing_stops_the_synth_naming_the_key(tmp_path: Path):
    path = tmp_path / "inventory.toml"
    path.write_text(RUNBOOK_INVENTORY.replace("restart-safely.asl.json", "nowhere.asl.json"))
    with pytest.raises(InventoryError, match=r"runbooks\.restart-safely\.definition: cannot read"):
        synthesize(inventory=str(path))


def test_a_waiting_states_timeout_comes_from_approval_minutes_and_another_stops_the_synth(tmp_path: Path):
    """approval_minutes is the one number: the deployed waiting state times out at it (plus the grace opsbot's
    expiry needs to fail it first); a definition saying another TimeoutSeconds stops the synth naming the key,
    the state and both numbers."""
    written = load_definition(ROOT / "runbooks/restart-safely.asl.json")
    assert with_waiting_timeouts(written, 5)["States"]["Ask a second person"]["TimeoutSeconds"] == (
        waiting_timeout_s(5)
    )
    assert waiting_timeout_s(5) == 5 * 60 + EXPIRY_GRACE_S
    assert "TimeoutSeconds" not in written["States"]["Read desired count"]  # only the waiting states

    written["States"]["Ask a second person"]["TimeoutSeconds"] = 3600
    definition = tmp_path / "runbooks" / "mismatch.asl.json"
    definition.parent.mkdir()
    definition.write_text(json.dumps(written))
    path = tmp_path / "inventory.toml"
    path.write_text(
        RUNBOOK_INVENTORY.replace("runbooks/restart-safely.asl.json", "runbooks/mismatch.asl.json")
        + "approval_minutes = 30\n"
    )
    with pytest.raises(
        InventoryError,
        match=r"runbooks\.restart-safely\.definition: state 'Ask a second person': TimeoutSeconds 3600 is not what "
        r"the runbook's approval_minutes \(30\) gives a waiting state \(2100 s",
    ):
        definitions(Inventory.from_toml(path.read_text()), root=tmp_path)
