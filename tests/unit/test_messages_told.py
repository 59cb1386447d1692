"""Messages that tell the truth, whole: the Confirm prompt shows the whole command (bounded, a cut said),
its wording reads as a question, counts agree in number, an unknown command gets a "did you mean"."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ack_function import outbox, replies
from shared import blockkit, messages
from shared.commands import COMMANDS, find_command
from worker_function import jobs_view

ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/payment:17"


def prompt_for(display: str, command: str = "/ops-rollback") -> blockkit.SlackMessage:
    spec = find_command(command)
    assert spec is not None
    return outbox.confirm_prompt(display, spec.description, "prod", "c", "x", 600, "ok", "no")


def test_the_confirm_prompt_shows_a_rollback_arn_whole_with_its_revision():
    prompt = prompt_for(f"/ops-rollback payment {ARN}")

    assert f"`/ops-rollback payment {ARN}`" in prompt.text
    assert "…" not in json.dumps(prompt.blocks)


def test_a_command_too_long_to_show_keeps_its_end_and_says_it_was_cut():
    display = "/ops-rollback payment " + "x" * 3000 + " END17"
    prompt = prompt_for(display)

    shown = json.dumps(prompt.blocks)
    assert "END17" in prompt.text  # the end (a revision, a count) is shown
    assert "characters long" in shown and "are not shown here" in shown
    assert all(len(b["text"]["text"]) <= 3000 for b in prompt.blocks if b["type"] == "section")


def test_the_rollback_and_scale_prompts_do_not_end_with_asks_to_confirm():
    for command in ("/ops-rollback", "/ops-scale"):
        prompt = prompt_for(f"{command} payment 3", command)
        assert "asks to confirm" not in prompt.text.lower(), prompt.text
        assert prompt.text.rstrip().endswith(".")


def test_lists_still_say_which_commands_ask_to_confirm():
    listed = messages.command_list(COMMANDS)
    rollback = next(line for line in listed.splitlines() if "/ops-rollback" in line)
    status = next(line for line in listed.splitlines() if "/ops-status" in line)
    assert rollback.endswith("Asks you to confirm first.") and "confirm" not in status


def test_one_lease_is_one_lease():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    lease = jobs_view.LeaseRow("smoke", "U0ALICE", "/ops-regression smoke", now.timestamp(), "7f3a2b1c")
    one = jobs_view.jobs_overview([], [], [lease], now=now, short_id="abcd1234")
    none = jobs_view.jobs_overview([], [], [], now=now, short_id="abcd1234")

    assert "1 lease held" in one.text and "1 leases" not in one.text
    assert "0 leases held" in none.text


def test_an_unknown_command_says_did_you_mean_and_lists_the_closest_first():
    said = replies.unknown_command("/ops-restrat", COMMANDS)

    assert "Did you mean `/ops-restart`?" in said.text
    listed = [line for line in said.text.splitlines() if line.startswith("•")]
    assert listed[0].startswith("• `/ops-restart")
    assert len(listed) == len(COMMANDS)


def test_a_command_like_nothing_known_gets_no_guess():
    said = replies.unknown_command("/weather", COMMANDS)
    assert "Did you mean" not in said.text and "/ops-ping" in said.text
