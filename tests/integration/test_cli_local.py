"""`opsbot send`, `alarm` and `audit` against the whole local stack (the real ack and worker, moto, the local
Slack API): exit codes and job ids that tell the truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.cli.main import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_WAITING, main
from infra.devstack.stack import LocalStack
from infra.devstack.state import write_state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


@pytest.fixture
def state_file(stack: LocalStack, tmp_path: Path) -> Path:
    path = tmp_path / "local.json"
    write_state(path, stack.state)
    return path


def send(state_file: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["send", *args, "--state", str(state_file), "--timeout", "60"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_request_waiting_for_a_second_persons_approval_exits_5_not_refused(state_file, capsys):
    code, out, err = send(state_file, capsys, "/ops-migrate payment", "--user", "U0ALEX")

    assert code == EXIT_WAITING, out + err
    assert "needs a second person" in out
    assert "waiting for someone else" in err and "refused" not in err


def test_a_mention_of_a_command_that_must_be_confirmed_does_not_exit_0(state_file, capsys):
    code, out, err = send(state_file, capsys, "ops-migrate payment", "--mention", "--user", "U0DEV")

    assert code == EXIT_REFUSED, out + err
    assert "must be confirmed or approved first" in out
    assert "succeeded" not in out + err


def test_send_cancel_prints_the_job_id_the_audit_has(state_file, capsys):
    code, out, err = send(state_file, capsys, "/ops-migrate payment", "--cancel", "--json", "--user", "U0DEV")

    assert code == EXIT_REFUSED, out + err
    reported = json.loads(out)
    assert reported["job"] is not None, reported
    assert main(["audit", "--target", "payment", "--json", "--state", str(state_file)]) == EXIT_OK
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [cancelled] = [r for r in records if r["event"] == "cancelled" and r["user_id"] == "U0DEV"]
    assert cancelled["job_id"][:8] == reported["job"]
    assert all(m["text"] and reported["job"] for m in reported["messages"])


def test_send_cancel_shows_the_same_job_id_in_the_terminal(state_file, capsys):
    code, out, _ = send(state_file, capsys, "/ops-migrate payment", "--cancel", "--user", "U0DEV")

    assert code == EXIT_REFUSED
    assert main(["audit", "--target", "payment", "--json", "--state", str(state_file)]) == EXIT_OK
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    newest = next(r for r in records if r["event"] == "cancelled")
    assert f"job {newest['job_id'][:8]} final" in out, out


def test_an_alarm_typo_is_refused_with_the_known_alarms(state_file, capsys):
    code = main(["alarm", "paymnt-5xx", "ALARM", "--state", str(state_file)])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "published" not in captured.out
    assert "known alarms, closest first" in captured.err and "payment-" in captured.err


@pytest.mark.parametrize("query", ["stats count(*) by", "filter @message like /(/", "fields | | limit"])
def test_a_malformed_logs_query_is_refused_as_cloudwatch_refuses_it(state_file, capsys, query):
    code, out, err = send(state_file, capsys, f"/ops-logs payment {query}")

    assert code == EXIT_REFUSED, out + err
    assert "CloudWatch Logs Insights cannot read the query" in out and "Nothing was searched" in out
    assert not any(line.strip() == "" for line in out.splitlines()), out


def test_a_plain_words_logs_search_still_runs(state_file, capsys):
    code, out, err = send(state_file, capsys, "/ops-logs payment ERROR (")

    assert code == EXIT_OK, out + err
