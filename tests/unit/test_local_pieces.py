"""Pure pieces of the local stack and CLI: Block Kit rendering, batch failure rules, command lines, state."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.devstack.blocks import render_blocks
from infra.devstack.client import CommandOutcome, ack_text, parse_command_line
from infra.devstack.errors import CommandLineError, StateFileError
from infra.devstack.poller import failed_message_ids
from infra.devstack.slack_api import MessageRecord
from infra.devstack.slack_request import PostResult
from infra.devstack.state import StackState, find_state, read_state, remove_state, state_path_for, write_state
from shared import blockkit, messages
from worker_function import dispatch as dispatch_module
from worker_function import errors as errors_module
from worker_function import job_messages
from worker_function import plan as plan_module
from worker_function import prompts as prompts_module
from worker_function.control import settle as settle_module
from worker_function.operations import ping as ping_module
from worker_function.stages import step as step_module


def test_render_blocks_covers_the_usual_blocks():
    text = render_blocks(
        {
            "text": "fallback",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Deploy status"}},
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "*payment*"},
                    "fields": [{"type": "mrkdwn", "text": "running 2"}, {"type": "mrkdwn", "text": "desired 2"}],
                },
                {"type": "divider"},
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": "job `ab`"}, {"type": "plain_text", "text": "x"}],
                },
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "Restart"}, "style": "danger"},
                        {"type": "button", "text": {"type": "plain_text", "text": "Cancel"}},
                    ],
                },
                {"type": "video"},
            ],
        }
    )

    lines = text.splitlines()
    assert lines[0] == "Deploy status" and set(lines[1]) == {"═"}
    assert "*payment*" in lines
    assert any("running 2" in line and "desired 2" in line for line in lines)
    assert "─" * 10 in text
    assert "job `ab`  ·  x" in text
    assert "[ Restart ] (danger)  [ Cancel ]" in text
    assert "[video block]" in text
    assert "fallback" not in text


def test_render_blocks_falls_back_to_text():
    assert render_blocks({"text": "just text"}) == "just text"
    assert render_blocks({"text": "t", "blocks": []}) == "t"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{"messageId": "a"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),
        ("not json object", {"a", "b"}),
    ],
)
def test_failed_message_ids_follow_lambdas_rules(result, expected):
    assert failed_message_ids(result, ["a", "b"]) == expected


def test_parse_command_line():
    assert parse_command_line("  /deploy-status   payment ") == ("/deploy-status", "payment")
    assert parse_command_line("/ops-ping") == ("/ops-ping", "")
    for bad in ("", "deploy-status payment", "/", "/ bad", "//x"):
        with pytest.raises(CommandLineError):
            parse_command_line(bad)


def test_ack_text():
    assert ack_text('{"response_type": "ephemeral", "text": "queued"}') == "queued"
    assert ack_text("plain") == "plain"
    assert ack_text("") == ""


def state(pid: int) -> StackState:
    return StackState(
        ingress_url="http://127.0.0.1:1",
        events_url="http://127.0.0.1:1/slack/events",
        slack_url="http://127.0.0.1:2",
        signing_secret="s",
        queue_url="q",
        dlq_url="d",
        endpoint_url="e",
        region="us-east-1",
        pid=pid,
    )


def test_state_file_round_trip_is_private_and_removed_only_by_its_owner(tmp_path):
    path = tmp_path / "nested" / "local.json"

    write_state(path, state(pid=os.getpid()))

    assert read_state(path) == state(pid=os.getpid())
    assert path.stat().st_mode & 0o777 == 0o600
    remove_state(path, pid=os.getppid())
    assert path.exists()
    remove_state(path, pid=os.getpid())
    assert not path.exists()


def dead_pid() -> int:
    """A pid that ran and is gone."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_a_stale_state_file_is_detected_removed_and_said_so(tmp_path):
    path = tmp_path / "local-3000.json"
    write_state(path, state(pid=dead_pid()))

    with pytest.raises(StateFileError, match=r"is gone .* removed its stale state file"):
        read_state(path)
    assert not path.exists()


def test_find_state_picks_the_one_running_stack_and_asks_which_of_several(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(StateFileError, match="no local stack is running"):
        find_state()
    write_state(state_path_for(3000), state(pid=os.getpid()))
    write_state(state_path_for(3001), state(pid=dead_pid()))

    assert find_state() == state_path_for(3000)
    assert not state_path_for(3001).exists()  # stale: cleaned on the way
    write_state(state_path_for(3002), state(pid=os.getppid()))
    with pytest.raises(StateFileError, match=r"2 local stacks are running, pick one: --state .*local-3000\.json"):
        find_state()
    assert find_state(tmp_path / "x.json") == tmp_path / "x.json"


def test_missing_or_broken_state_file_is_a_clear_error(tmp_path):
    with pytest.raises(StateFileError, match="opsbot local"):
        read_state(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(StateFileError, match="cannot read"):
        read_state(broken)


def finished_with(message: blockkit.SlackMessage) -> CommandOutcome:
    """An outcome whose ack queued the job and whose final message is `message`."""
    record = MessageRecord(
        seq=1,
        kind="response_url",
        payload={"text": message.text, "metadata": {"event_payload": {"job_id": "0" * 32, "final": True}}},
        received_at=0.0,
    )
    ack = PostResult(status=200, body="", headers={}, latency_ms=1.0)
    return CommandOutcome(line="/x", ack=ack, ack_text="queued as job `00000000`", job="00000000", messages=[record])


@pytest.mark.parametrize(
    ("message", "result"),
    [
        (ping_module.pong(3.0, 0, "0" * 8), "succeeded"),
        (job_messages.outcome(True, "Restart of `payment` completed"), "succeeded"),
        (job_messages.outcome(False, "Build failed"), "failed"),
        (job_messages.job_failed("/ops-restart payment", "0" * 8, "boom"), "failed"),
        (dispatch_module.gave_up("/ops-restart payment", "0" * 8, 3, "throttled"), "failed"),
        (dispatch_module.rejected("/ops-restart payment", "0" * 8, "AccessDenied"), "failed"),
        (plan_module.timed_out("/ops-migrate payment", "0" * 8, 7200, 3600), "failed"),
        (errors_module.busy("payment", "/ops-restart payment", "U1", "10:00 UTC", "1" * 32, "0" * 8), "refused"),
        (messages.denied("/ops-restart payment", "r", "only SREs", "#ops"), "refused"),
        (step_module.unknown_name("/ops-restart nosuch", "0" * 8, "I don't know target `nosuch`"), "refused"),
        (settle_module.cancelled("/ops-migrate payment"), "refused"),
        (settle_module.prompt_expired("/ops-migrate payment", 300), "refused"),
        (settle_module.approval_expired("/ops-migrate payment", 3600), "refused"),
        (errors_module.too_late("/ops-migrate payment", "cancelled", approval=False), "refused"),
        (prompts_module.approval_closed("/ops-migrate payment", "U1", "rejected", "U2", "0" * 8, 3600), "refused"),
    ],
)
def test_the_cli_reads_what_became_of_a_job_from_the_workers_real_messages(message, result):
    assert finished_with(message).result == result


def test_the_state_directory_is_per_user_and_private(tmp_path, monkeypatch):
    """XDG_CACHE_HOME decides where; the directory is 0700 (it was made, or made so), and one that belongs to
    another user is refused: one user's CLI never finds, nor drives, another user's stacks."""
    import stat

    shared = tmp_path / "shared-cache"
    (shared / "opsbot").mkdir(parents=True)
    (shared / "opsbot").chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))

    write_state(state_path_for(3000), state(pid=os.getpid()))

    assert stat.S_IMODE((shared / "opsbot").stat().st_mode) == 0o700
    assert find_state() == shared / "opsbot" / "local-3000.json"
    monkeypatch.setattr(os, "getuid", lambda: (shared / "opsbot").stat().st_uid + 1)  # as another user
    with pytest.raises(StateFileError, match=r"belongs to another user .* set XDG_CACHE_HOME"):
        find_state()
    with pytest.raises(StateFileError, match="belongs to another user"):
        state_path_for(3001)


def test_a_fresh_state_directory_is_made_private_and_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch):
    import stat

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh"))
    write_state(state_path_for(3000), state(pid=os.getpid()))
    assert stat.S_IMODE((tmp_path / "fresh" / "opsbot").stat().st_mode) == 0o700

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_path_for(1).parent == tmp_path / "home" / ".cache" / "opsbot"
