"""Runbooks: the inventory's `[runbooks]` checked at load (errors name the key), `/ops-run` parsed and refused at
the ack, the execution's history rendered bounded and escaped, the task message read off the queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ack_function.route import unknown_name
from shared.commands import find_command
from shared.commands.builtin.run import RunArgs, runbook_problem
from shared.errors import UsageError
from shared.inventory import Inventory, InventoryError
from shared.runbooks import (
    TaskMessage,
    check_definition,
    execution_input,
    prompt_id_of,
    state_order,
    task_job,
)
from worker_function.operations._runbook_view import MAX_CAUSE, MAX_ROWS, final_message, read_history, state_lines

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:x"
BASE = """\
version = 1
[targets.payment]
environment = "prod"
ecs = { cluster = "c", service = "payment" }
[targets.web]
environment = "staging"
ecs = { cluster = "c", service = "web" }
"""
GOOD = (
    BASE
    + """
[runbooks.restart-safely]
definition = "runbooks/restart-safely.asl.json"
environment = "prod"
targets = ["payment"]
parameters = { reason = { pattern = "[a-z0-9-]{1,20}" }, mode = { values = ["fast", "slow"] } }
"""
)


def test_a_good_runbook_loads_and_is_a_name_commands_accept():
    inventory = Inventory.from_toml(GOOD)
    assert inventory.names_for("runbook") == ["restart-safely"]
    assert inventory.environment_of("runbook", "restart-safely") == "prod"
    assert "prod" in inventory.environments()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('[runbooks.x]\nenvironment = "prod"\n', "runbooks.x: Value error, a runbook names either a definition"),
        (
            f'[runbooks.x]\ndefinition = "a.json"\nstate_machine_arn = "{ARN}"\n',
            "runbooks.x: Value error, a runbook names either",
        ),
        (
            '[runbooks.x]\nstate_machine_arn = "arn:aws:states:us-east-1:1:stateMachine:x"\n',
            "runbooks.x.state_machine_arn",
        ),
        ('[runbooks.x]\ndefinition = "../etc/x.json"\n', "runbooks.x.definition"),
        (
            '[runbooks.x]\ndefinition = "a.json"\ntargets = ["nope"]\n',
            "runbooks.x.targets: 'nope' is not one of the targets",
        ),
        (
            '[runbooks.x]\ndefinition = "a.json"\nenvironment = "prod"\ntargets = ["web"]\n',
            "runbooks.x.targets: 'web' is in staging",
        ),
        (
            '[runbooks.x]\ndefinition = "a.json"\nparameters = { a = { pattern = "(" } }\n',
            "runbooks.x.parameters.a.pattern",
        ),
        (
            f'[runbooks.x]\nstate_machine_arn = "{ARN}"\naccount = "eu"\n',
            "runbooks.x.account: there is no [accounts.eu]",
        ),
        ('[runbooks.x]\ndefinition = "a.json"\napprovers = ["alice"]\n', "runbooks.x.approvers.0"),
    ],
)
def test_a_bad_runbook_is_refused_at_load_naming_its_key(extra, named):
    with pytest.raises(InventoryError) as raised:
        Inventory.from_toml(BASE + extra)
    assert named in str(raised.value)


def test_ops_run_parses_a_runbook_a_target_and_parameters():
    spec = find_command("/ops-run")
    assert spec is not None and spec.mutating
    args = spec.parse("restart-safely payment reason=incident-42 mode=fast")
    assert args == RunArgs(
        runbook="restart-safely", target="payment", parameters={"reason": "incident-42", "mode": "fast"}
    )
    assert spec.target_of(args) == "payment"
    assert spec.target_of(spec.parse("nightly")) == "runbook:nightly"
    with pytest.raises(UsageError, match="one target"):
        spec.parse("restart-safely payment checkout")
    with pytest.raises(UsageError, match="needs a runbook"):
        spec.parse("")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("restart-safely payment reason=ok", None),
        ("restart-safely web", "does not run on `web`"),
        ("restart-safely", "it needs a target: one of payment"),
        (
            "restart-safely payment color=red",
            "color is not a parameter of this runbook; the parameters allowed are: mode, reason",
        ),
        ("restart-safely payment mode=turbo", "mode must be one of fast, slow"),
        ("restart-safely payment reason=Not_OK!", "that value of reason is not one this runbook accepts"),
    ],
)
def test_the_ack_refuses_what_the_runbook_does_not_allow(text, answer):
    inventory = Inventory.from_toml(GOOD)
    problem = runbook_problem(find_command("/ops-run").parse(text), inventory)
    assert (problem is None) if answer is None else (answer in (problem or ""))


def test_an_unknown_runbook_is_answered_with_the_known_ones_closest_first():
    inventory = Inventory.from_toml(GOOD)
    spec = find_command("/ops-run")
    problem = unknown_name(spec, spec.parse("restart-safe payment"), inventory)
    assert problem is not None and "I don't know runbook 'restart-safe'" in problem and "restart-safely" in problem


def _event(kind: str, seconds: float, **details) -> dict:
    return {"type": kind, "timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds), **details}


def _entered(name: str, at: float) -> dict:
    return _event("TaskStateEntered", at, stateEnteredEventDetails={"name": name})


def _exited(name: str, at: float) -> dict:
    return _event("TaskStateExited", at, stateExitedEventDetails={"name": name})


NOW = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=100)


def test_the_history_shows_each_state_its_status_and_duration_the_current_one_in_bold():
    history = read_history(
        [
            _event("ExecutionStarted", 0),
            _entered("Scale up", 0),
            _exited("Scale up", 1.5),
            _entered("Ask", 2),
            _event("TaskSubmitted", 2.1, taskSubmittedEventDetails={"resource": "sendMessage.waitForTaskToken"}),
        ]
    )
    lines = state_lines(history, NOW)
    assert lines[0] == ":white_check_mark: Scale up · succeeded · 1.5s"
    assert lines[1].startswith(":raising_hand: *Ask* · waiting for a person · 1m 38s")


def test_a_failure_shows_its_error_and_cause_escaped_and_bounded():
    cause = "<!channel> *boom* " + "x" * 5000
    history = read_history(
        [
            _entered("<@U1> step", 0),
            _event("TaskFailed", 1, taskFailedEventDetails={"error": "States.TaskFailed", "cause": cause}),
            _event("ExecutionFailed", 1, executionFailedEventDetails={"error": "States.TaskFailed", "cause": cause}),
        ]
    )
    [line] = state_lines(history, NOW)
    assert "<!channel>" not in line and "&lt;!channel&gt;" in line and "<@U1>" not in line
    assert "`States.TaskFailed`" in line and len(line) < MAX_CAUSE + 200
    message = final_message("Runbook `x`", "FAILED", history, "arn:aws:states:eu-west-1:1:execution:m:n", 61, NOW)
    assert message.text.startswith(":x: Runbook `x` failed in 1m 1s.") and "<!channel>" not in json.dumps(
        message.blocks
    )
    assert "eu-west-1.console.aws.amazon.com/states" in json.dumps(message.blocks)


def test_a_state_entered_again_is_one_row_counted_and_long_runs_are_bounded():
    events = []
    for i in range(3):
        events += [_entered("Wait", i * 2), _exited("Wait", i * 2 + 1)]
    for i in range(MAX_ROWS + 5):
        events += [_entered(f"s{i}", 50 + i), _exited(f"s{i}", 50.5 + i)]
    lines = state_lines(read_history(events), NOW)
    assert lines[0] == "_6 earlier states not shown_" and len(lines) == MAX_ROWS + 1
    assert "Wait x3" in " ".join(state_lines(read_history(events[:6]), NOW))


def test_an_aborted_execution_marks_the_state_it_stopped_in():
    history = read_history(
        [_entered("Ask", 0), _event("ExecutionAborted", 5, executionAbortedEventDetails={"error": "opsbot.Cancelled"})]
    )
    assert state_lines(history, NOW) == [":black_square_for_stop: Ask · stopped · 5.0s"]
    message = final_message("Runbook `x`", "ABORTED", history, "arn:aws:states:us-east-1:1:execution:m:n", 5, NOW)
    assert message.text.startswith(":warning: Runbook `x` was stopped in 5s.")


def test_a_task_message_is_read_off_the_queue_and_becomes_one_job_per_token():
    body = json.dumps({"opsbot_task": {"token": "tok-1", "job_id": "a" * 32, "state": "Ask", "ask": "ok?"}})
    message = TaskMessage.parse(body)
    assert message is not None and message.state == "Ask"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert task_job(message, now).job_id == task_job(message, now).job_id
    assert task_job(message, now).args.kind == "runbook_task"
    assert TaskMessage.parse(json.dumps({"job_id": "x", "args": {"kind": "ping"}})) is None
    assert TaskMessage.parse("not json opsbot_task") is None
    assert prompt_id_of("tok-1") != prompt_id_of("tok-2")


def test_the_input_is_the_same_text_for_the_same_job():
    one = execution_input(
        job_id="j", runbook="r", target={"b": 1, "a": 2}, parameters={"y": "1", "x": "2"}, queue_url="q", requester="U"
    )
    two = execution_input(
        job_id="j", runbook="r", target={"a": 2, "b": 1}, parameters={"x": "2", "y": "1"}, queue_url="q", requester="U"
    )
    assert one == two and json.loads(one)["opsbot"] == {"job_id": "j", "queue_url": "q", "requester": "U"}


def test_the_demo_definition_is_checked_and_listed_in_order():
    from infra.devstack.runbooks import ROOT
    from shared.runbooks import load_definition

    document = load_definition(ROOT / "runbooks/restart-safely.asl.json")
    order = state_order(document)
    assert order[:3] == ["Read desired count", "Scale up by one", "Restart"] and order[-1] in (
        "Scale back",
        "Rollout failed",
    )
    with pytest.raises(ValueError, match="Next 'nowhere'"):
        check_definition({"StartAt": "a", "States": {"a": {"Type": "Pass", "Next": "nowhere"}}})
