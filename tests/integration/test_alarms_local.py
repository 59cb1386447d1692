"""Alarms end to end on the local stack: `opsbot alarm payment-5xx ALARM` reaches the real worker through the
queue, which posts the alarm in #incident with its runbook buttons; OK updates that one message in place; a
signed click on a runbook button runs its command as the person who clicked."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from infra.cli.main import main
from infra.devstack.demo import INCIDENT_CHANNEL
from infra.devstack.slack_request import SignedRequest, post, sign
from infra.devstack.stack import LocalStack
from infra.devstack.state import write_state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_an_alarm_is_posted_updated_in_place_and_its_runbook_button_runs_as_the_clicker(stack, tmp_path):
    state_file = tmp_path / "local.json"
    write_state(state_file, stack.state)

    assert main(["alarm", "payment-5xx", "ALARM", "--reason", "5xx > 5% for 5 min", "--state", str(state_file)]) == 0
    [posted] = wait_for(lambda: stack.slack.messages(channel=INCIDENT_CHANNEL))
    assert posted.kind == "chat.postMessage"
    assert "payment-5xx" in posted.payload["text"] and "ALARM" in posted.payload["text"]
    blocks = (
        json.loads(posted.payload["blocks"]) if isinstance(posted.payload["blocks"], str) else posted.payload["blocks"]
    )
    [actions] = [b for b in blocks if b["type"] == "actions"]
    buttons = {e["text"]["text"]: e for e in actions["elements"]}
    assert set(buttons) == {"/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment"}

    assert main(["alarm", "payment-5xx", "OK", "--state", str(state_file)]) == 0
    updated = wait_for(lambda: [m for m in stack.slack.messages(channel=INCIDENT_CHANNEL) if m.kind == "chat.update"])
    assert updated[0].ts == posted.ts and "lasted" in json.dumps(updated[0].payload)
    assert [m.kind for m in stack.slack.messages(channel=INCIDENT_CHANNEL)].count("chat.postMessage") == 1

    button = buttons["/ops-status payment"]
    key = secrets.token_urlsafe(8)
    payload = {
        "type": "block_actions",
        "user": {"id": "U0DANA", "username": "dana", "team_id": "T0LOCAL"},
        "team": {"id": "T0LOCAL"},
        "channel": {"id": INCIDENT_CHANNEL},
        "trigger_id": secrets.token_hex(8),
        "response_url": stack.slack.response_url(key),
        "container": {"type": "message", "message_ts": posted.ts, "channel_id": INCIDENT_CHANNEL},
        "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"]}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, stack.signing_secret)}
    assert post(stack.target.events_url, SignedRequest(body=body, headers=headers)).status == 200

    messages = stack.slack.wait_for_messages(key=key, final=True, timeout=30)
    final = [m for m in messages if m.final]
    assert final and "payment" in final[-1].text
    assert final[-1].payload.get("replace_original") is not True  # the alarm message stays


def test_opsbot_click_runs_an_alarm_button_as_the_clicker(stack, tmp_path, capsys):
    """`opsbot alarm payment-5xx ALARM`, then `opsbot click "/ops-status payment" --user U0DANA`."""
    state_file = tmp_path / "local.json"
    write_state(state_file, stack.state)
    assert main(["alarm", "payment-5xx", "ALARM", "--state", str(state_file)]) == 0
    wait_for(lambda: [m for m in stack.slack.messages(channel=INCIDENT_CHANNEL) if "ALARM" in m.text])
    capsys.readouterr()

    args = ["click", "/ops-status payment", "--user", "U0DANA", "--channel", INCIDENT_CHANNEL]
    assert main([*args, "--state", str(state_file)]) == 0

    out = capsys.readouterr().out
    assert "clicking [/ops-status payment]" in out and "as U0DANA" in out
    assert "tasks running" in out and "prod · job" in out

    assert main(["click", "/ops-reboot-everything", "--state", str(state_file)]) == 2
    assert "no message in any channel has a button labelled '/ops-reboot-everything'" in capsys.readouterr().err


@pytest.mark.parametrize(("via", "state"), [("sns-raw", "ALARM"), ("eventbridge", "OK"), ("eventbridge", "ALARM")])
def test_every_alarm_route_reaches_the_channel_through_the_worker(stack, tmp_path, via, state):
    """SNS with raw message delivery and EventBridge's rule, as wired on AWS: moto delivers each to the jobs
    queue in its own shape and the real worker shows it in the alarm's one message."""
    state_file = tmp_path / "local.json"
    write_state(state_file, stack.state)
    seen = len(stack.slack.messages(channel=INCIDENT_CHANNEL))

    assert main(["alarm", "payment-5xx", state, "--via", via, "--state", str(state_file)]) == 0
    new = wait_for(lambda: stack.slack.messages(channel=INCIDENT_CHANNEL)[seen:])
    assert f"*in {state}*" in json.dumps(new[-1].payload) or state in new[-1].payload["text"]
    assert "payment-5xx" in new[-1].payload["text"]
    assert [m.kind for m in stack.slack.messages(channel=INCIDENT_CHANNEL)].count("chat.postMessage") == 1
