"""How the ack reads flags and durations as people type them in Slack: Slack's smart punctuation turns `--`
into an em dash (or an en dash), a duration is refused in the units it was typed in, only ASCII digits count,
the longest freeze is accepted, and a `--dry-run` is never ignored nor answered with something untrue."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ack_function.route import plan_job
from shared.blockkit import SlackMessage
from shared.commands import DryRunArgs, find_command
from shared.commands.builtin.freeze import FreezeArgs
from shared.commands.builtin.logs import LogsArgs
from shared.commands.builtin.restart import RestartArgs
from shared.errors import UsageError
from shared.jobs import JobEnvelope, Requester

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REQUESTER = Requester(user_id="U0ALICE", team_id="T1", channel_id="C0OPS")
EM, EN = "\u2014", "\u2013"


def planned(line: str) -> JobEnvelope | SlackMessage:
    name, _, text = line.partition(" ")
    return plan_job(name, text, REQUESTER, job_id="j" * 32, response_url=None, now=NOW)


@pytest.mark.parametrize("dash", [EM, EN, "-" + EM, "--"])
def test_a_freeze_with_a_smart_dash_dry_run_is_never_a_real_freeze(dash):
    said = planned(f"/ops-freeze prod x {dash}dry-run")

    assert isinstance(said, SlackMessage), "queued as a real freeze"
    assert "has no --dry-run" in said.text and "Nothing was queued" in json.dumps(said.blocks)
    assert "changes nothing" not in said.text  # a freeze changes something: that answer would be false


@pytest.mark.parametrize("command", ["/ops-lock payment incident 42", "/ops-unlock payment", "/ops-unfreeze prod"])
def test_a_dry_run_of_a_hold_is_refused_without_claiming_the_command_changes_nothing(command):
    said = planned(f"{command} --dry-run")

    assert isinstance(said, SlackMessage)
    assert "has no --dry-run: leave it out to run it for real" in said.text
    assert "changes nothing" not in said.text


def test_a_read_still_says_it_changes_nothing():
    said = planned("/ops-status payment --dry-run")
    assert isinstance(said, SlackMessage) and "changes nothing, so it has no --dry-run" in said.text


@pytest.mark.parametrize("dash", [EM, EN])
def test_a_restart_with_a_smart_dash_dry_run_is_a_dry_run(dash):
    job = planned(f"/ops-restart payment {dash}dry-run")

    assert isinstance(job, JobEnvelope) and isinstance(job.args, DryRunArgs)
    assert job.args.of == RestartArgs(target="payment")


@pytest.mark.parametrize("dash", [EM, EN, "--"])
def test_a_freeze_for_one_hour_typed_with_any_dash_lasts_one_hour(dash):
    job = planned(f"/ops-freeze prod db upgrade {dash}for 1h")

    assert isinstance(job, JobEnvelope)
    assert job.args == FreezeArgs(environment="prod", reason="db upgrade", for_minutes=60)


def test_logs_since_with_an_em_dash():
    job = planned(f"/ops-logs payment {EM}since 2h error")
    assert isinstance(job, JobEnvelope)
    assert job.args == LogsArgs(target="payment", since_minutes=120, query="error")


@pytest.mark.parametrize("duration", ["10080m", "168h", "7d"])
def test_the_longest_freeze_is_accepted_in_any_unit(duration):
    freeze = find_command("/ops-freeze")
    assert freeze is not None
    assert freeze.parse(f"prod x --for {duration}").for_minutes == 10080  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("duration", "problem"),
    [
        ("8d", r"--for must be at most 7d \(168h, 10080m\), got '8d'\."),
        ("10081m", r"--for must be at most 7d \(168h, 10080m\), got '10081m'\."),
        ("0h", r"--for must be at least 1m, got '0h'\."),
        ("\u0663h", r"--for must be a duration such as 30m, 2h or 1d, got '\u0663h'\."),  # Arabic-Indic three
        ("\uff12h", r"--for must be a duration"),  # a fullwidth two
    ],
)
def test_a_duration_out_of_bounds_is_refused_in_the_units_typed_and_only_ascii_digits_count(duration, problem):
    freeze = find_command("/ops-freeze")
    assert freeze is not None
    with pytest.raises(UsageError, match=problem) as refused:
        freeze.parse(f"prod x --for {duration}")
    assert "11520" not in str(refused.value)


def test_a_second_for_is_refused_rather_than_one_of_them_ignored():
    freeze = find_command("/ops-freeze")
    assert freeze is not None
    with pytest.raises(UsageError, match="--for is given twice"):
        freeze.parse(f"prod x --for 1h {EM}for 2h")
