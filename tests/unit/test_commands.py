from __future__ import annotations

import pytest

from shared.commands import COMMANDS, find_command
from shared.commands.builtin.deploy_status import DeployStatusArgs
from shared.commands.builtin.ping import PingArgs
from shared.errors import UsageError


def spec(name: str):
    found = find_command(name)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("/ops-ping", "", PingArgs()),
        ("/ops-ping", "  2.5 ", PingArgs(work_seconds=2.5)),
        ("/deploy-status", "payment", DeployStatusArgs(service="payment")),
        ("/DEPLOY-STATUS", "  check_out-2  ", DeployStatusArgs(service="check_out-2")),
    ],
)
def test_text_parses_into_the_commands_args(name, text, expected):
    assert spec(name).parse(text) == expected


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("/deploy-status", "", "takes 1 argument, got 0"),
        ("/deploy-status", "a b", "takes 1 argument, got 2"),
        ("/deploy-status", "-payment", "target names are letters, digits, - and _, starting with a letter"),
        ("/deploy-status", "x" * 256, "255\\), got 'xxxxxxxxxx"),
        ("/ops-ping", "soon", "seconds must be a number, got 'soon'"),
        ("/ops-ping", "61", "seconds must be at most 60, got '61'"),
        ("/ops-ping", "1 2", "takes 0 to 1 argument, got 2"),
    ],
)
def test_bad_text_raises_a_usage_error_naming_the_problem(name, text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        spec(name).parse(text)


def test_unknown_commands_are_not_found():
    assert find_command("/ops-nope") is None


def test_every_spec_has_a_unique_name_and_kind_and_an_operation():
    from worker_function.operations.registry import check_all

    assert len({s.name for s in COMMANDS}) == len({s.kind for s in COMMANDS}) == len(COMMANDS)
    paired = {c.kind: c for c in check_all()}
    for s in COMMANDS:
        assert paired[s.kind].spec is s, s.kind
        assert s.usage.startswith(s.name) and s.description
