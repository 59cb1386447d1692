"""Locks and freezes on the local stack, through `opsbot send` (signed like Slack, the real ack and worker on moto
and the local Slack API): a lock refuses a restart with exit code 4 naming the locker and the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.cli.main import EXIT_OK, EXIT_REFUSED, main
from infra.devstack.stack import LocalStack
from infra.devstack.state import write_state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


def send(state_file, line: str, capsys, *extra: str) -> tuple[int, str]:
    code = main(["send", line, "--state", str(state_file), "--timeout", "60", *extra])
    return code, capsys.readouterr().out


def test_opsbot_send_locks_payment_a_restart_is_refused_and_unlocking_lets_it_run(stack, tmp_path, capsys):
    state_file = tmp_path / "local.json"
    write_state(state_file, stack.state)

    code, out = send(state_file, "/ops-lock payment incident 42", capsys)
    assert code == EXIT_OK, out
    assert "`payment` is locked by <@U0LOCALDEV>: incident 42" in out

    code, out = send(state_file, "/ops-restart payment", capsys, "--user", "U0DANA")
    assert code == EXIT_REFUSED, out
    assert "`payment` is locked by <@U0LOCALDEV> since " in out and "incident 42" in out

    code, out = send(state_file, "/ops-unlock payment", capsys, "--user", "U0DANA")
    assert code == EXIT_REFUSED and "only they may lift it" in out, out
    code, out = send(state_file, "/ops-unlock payment", capsys)
    assert code == EXIT_OK and "is unlocked by <@U0LOCALDEV>" in out, out

    code, out = send(state_file, "/ops-freeze prod incident 42 --for 1h", capsys)
    assert code == EXIT_OK and "`prod` is frozen by <@U0LOCALDEV> until " in out, out
    code, out = send(state_file, "/ops-restart payment", capsys)
    assert code == EXIT_REFUSED and "`prod` is frozen by <@U0LOCALDEV>" in out, out
    code, out = send(state_file, "/ops-unfreeze prod", capsys)
    assert code == EXIT_OK and "is no longer frozen" in out, out
