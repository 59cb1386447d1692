"""A full local-stack run with every log captured (DEBUG, Python logging and the file descriptors): neither
the signing secret nor the bot token appears anywhere."""

from __future__ import annotations

import json
import logging
import urllib.parse

from infra.devstack.client import run_command
from infra.devstack.slack_request import SignedRequest, post, sign
from infra.devstack.stack import BOT_TOKEN, LocalStack

SIGNING_SECRET = "sekrit-signing-0f1e2d3c4b5a69788796a5b4"


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.__dict__))


def test_no_secret_in_any_log_of_a_full_run(capfd):
    captured = Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(captured)
    root.setLevel(logging.DEBUG)
    try:
        with LocalStack(port=0, visibility_timeout=2, log_level="DEBUG", signing_secret=SIGNING_SECRET) as stack:
            for line in ("/ops-ping", "/deploy-status payment", "/ops-restart checkout", "/ops-migrate checkout", "/x"):
                run_command(line, stack.target, timeout=20, emit=lambda _: None)
            # A click on a confirmation prompt and an unsigned forgery.
            payload = {
                "type": "block_actions",
                "user": {"id": "U0LOCALDEV"},
                "team": {"id": "T0LOCAL"},
                "actions": [{"action_id": "opsbot_confirm", "value": "forged.0000"}],
                "response_url": stack.slack.response_url(),
            }
            body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
            headers = {**sign(body, SIGNING_SECRET), "Content-Type": "application/x-www-form-urlencoded"}
            assert post(stack.target.events_url, SignedRequest(body=body, headers=headers)).status == 200
            bad = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
            assert post(stack.target.events_url, SignedRequest(body=body, headers=bad)).status == 401
            stack.slack.wait_for_messages(key=payload["response_url"].rsplit("/", 1)[-1], timeout=10)
            messages = json.dumps([m.model_dump() for m in stack.slack.messages()])
    finally:
        root.removeHandler(captured)
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    logs = "\n".join([*captured.lines, out, err])

    assert len(captured.lines) > 50 and "queued" in logs  # the run really was captured
    for secret in (SIGNING_SECRET, BOT_TOKEN):
        assert secret not in logs
        assert secret not in messages
