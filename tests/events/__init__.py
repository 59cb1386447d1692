"""Sample Lambda events kept as JSON, filled in and signed by one helper."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier

EVENTS_DIR = Path(__file__).parent
SHAPES = ("http_api_v2", "rest_api_v1", "function_url")


def slash_body(command: str, text: str = "", **overrides: str) -> bytes:
    """A slash-command form body as Slack sends it."""
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0001",
        "team_domain": "example",
        "channel_id": "C2147483705",
        "channel_name": "ops",
        "user_id": "U2147483697",
        "user_name": "alice",
        "command": command,
        "text": text,
        "api_app_id": "A123456",
        "response_url": "https://hooks.slack.com/commands/T0001/1234/abcd",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
    fields.update(overrides)
    return urllib.parse.urlencode(fields).encode()


def load_event(
    shape: str, body: bytes, secret: str, *, timestamp: int | None = None, signature: str | None = None
) -> dict[str, Any]:
    """The sample event of `shape` carrying `body`, signed with `secret` like Slack signs it."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = signature or SignatureVerifier(secret).generate_signature(timestamp=ts, body=body.decode())
    template = (EVENTS_DIR / f"{shape}.json").read_text()
    filled = (
        template.replace("{timestamp}", ts)
        .replace("{signature}", sig)
        .replace("{body_base64}", base64.b64encode(body).decode())
        .replace("{body}", json.dumps(body.decode())[1:-1])
    )
    event: dict[str, Any] = json.loads(filled)
    return event


#: The ways an alarm state change reaches the jobs queue: SNS with its envelope, SNS with raw message delivery
#: (the bare alarm JSON), EventBridge.
ALARM_SHAPES = ("sns", "sns_raw", "eventbridge")
#: CloudWatch's other alarm events on EventBridge: recognised and dropped, never a job.
IGNORED_ALARM_EVENTS = ("alarm_contributor", "alarm_configuration")


def alarm_body(shape: str, **changes: str) -> str:
    """The SQS body of a sample alarm notification (`sns`, `sns_raw` or `eventbridge`), with the alarm's fields
    changed (SNS field names: AlarmName, NewStateValue, OldStateValue, NewStateReason, StateChangeTime)."""
    data = json.loads((EVENTS_DIR / f"alarm_{shape}.json").read_text())
    if shape == "sns_raw":
        data.update(changes)
    elif shape == "sns":
        alarm = json.loads(data["Message"])
        alarm.update(changes)
        data["Message"] = json.dumps(alarm)
    else:
        detail = data["detail"]
        renames = {
            "AlarmName": ("alarmName",),
            "NewStateValue": ("state", "value"),
            "OldStateValue": ("previousState", "value"),
            "NewStateReason": ("state", "reason"),
            "StateChangeTime": ("state", "timestamp"),
        }
        for key, value in changes.items():
            *path, last = renames[key]
            node = detail
            for part in path:
                node = node[part]
            node[last] = value
    return json.dumps(data)
