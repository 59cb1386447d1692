"""Pickers through the local stack: `/ops-restart` alone, signed like Slack, answers with a select in the ack's
own response (nothing queued); a signed choice runs the restart to its end through the click's response_url."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from infra.devstack.slack_request import SignedRequest, SlashCommand, post, sign, signed_slash_command
from infra.devstack.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


def command(stack: LocalStack, name: str, text: str = "") -> dict[str, Any]:
    slash = SlashCommand(command=name, text=text, response_url=stack.slack.response_url(secrets.token_urlsafe(8)))
    acked = post(stack.target.events_url, signed_slash_command(slash, stack.signing_secret))
    assert acked.status == 200, acked.body
    return dict(json.loads(acked.body))


def options(ack_body: dict[str, Any], action_id: str) -> list[str]:
    [actions] = [b for b in ack_body["blocks"] if b["type"] == "actions"]
    element = next(e for e in actions["elements"] if e["action_id"] == action_id)
    found = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        found += group["options"]
    return [o["value"] for o in found]


def choose(stack: LocalStack, action_id: str, value: str, key: str, since: str | None = None) -> int:
    state = {"opsbot_pick": {"opsbot_pick_since": {"selected_option": {"value": since}}}} if since else {}
    payload = {
        "type": "block_actions",
        "user": {"id": "U0LOCALDEV", "username": "local-dev", "team_id": "T0LOCAL"},
        "team": {"id": "T0LOCAL"},
        "channel": {"id": "C0LOCALOPS"},
        "trigger_id": secrets.token_hex(8),
        "response_url": stack.slack.response_url(key),
        "container": {"type": "message", "is_ephemeral": True},
        "actions": [{"type": "static_select", "action_id": action_id, "selected_option": {"value": value}}],
        "state": {"values": state},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, stack.signing_secret)}
    return post(stack.target.events_url, SignedRequest(body=body, headers=headers)).status


def test_restart_alone_offers_the_targets_and_a_choice_restarts_it_to_the_end(stack):
    picker = command(stack, "/ops-restart")

    assert options(picker, "opsbot_pick:/ops-restart") == ["bastion", "payment", "payment-eu", "checkout"]
    assert "queued" not in picker["text"]
    key = secrets.token_urlsafe(8)
    assert choose(stack, "opsbot_pick:/ops-restart", "checkout", key) == 200
    messages = stack.slack.wait_for_messages(key=key, final=True, timeout=40)
    final = [m for m in messages if m.final]
    assert final and "Restart of `checkout` completed" in final[-1].text, messages
    assert final[-1].payload["replace_original"] is True  # the picker ends as the result
    # Every message of the job replaces the picker, its first one too: Slack replaces the message the click
    # came from, so a first message posted beside it would stay behind at "started".
    assert [m.payload["replace_original"] for m in messages] == [True] * len(messages), messages


def test_a_choice_of_a_target_the_inventory_no_longer_has_gets_the_unknown_target_answer(stack):
    key = secrets.token_urlsafe(8)
    assert choose(stack, "opsbot_pick:/ops-restart", "billing", key) == 200

    [message] = stack.slack.wait_for_messages(key=key, final=True, timeout=20)
    assert "I don't know target 'billing'" in message.text
    assert message.payload["replace_original"] is True


def test_logs_alone_offers_how_far_back_and_a_choice_runs_with_it(stack):
    picker = command(stack, "/ops-logs")

    assert options(picker, "opsbot_pick_since")[:2] == ["15m", "1h"]
    assert options(picker, "opsbot_pick:/ops-logs") == ["payment", "checkout"]
    key = secrets.token_urlsafe(8)
    assert choose(stack, "opsbot_pick:/ops-logs", "payment", key, since="1h") == 200
    [message] = stack.slack.wait_for_messages(key=key, final=True, timeout=30)
    assert "payment" in message.text and message.payload["replace_original"] is True
