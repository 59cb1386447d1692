"""Coverage-guided fuzzing of the ack handler with atheris (libFuzzer): `python -m tests.fuzz.atheris_ack -runs=N`.

Each input is split by atheris' FuzzedDataProvider into an event shape, a body (raw bytes, or a Slack-shaped
slash command / block_actions / event with fuzzed fields), whether it is signed with the right secret, a
timestamp skew, a mutation after signing, and extra headers; or a click carrying a real token sealed for a
fuzzed purpose, requester and team. Invariants, as in tests/unit/test_ack_fuzz.py: never a 5xx, never an
exception escaping the handler, never a job queued unless the exact body was signed with the secret within
Slack's 5 minutes; every reply within Slack's limits and showing the input inert; no token accepted for
another purpose, user or team. A violation raises, and libFuzzer stops with the input saved.

Ack code and Bolt are instrumented (coverage guidance); the pytest entry in test_atheris.py runs a short
campaign in CI when atheris is installed (Linux x86_64, see pyproject's dev extra).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
import urllib.parse
from collections import Counter
from typing import Any

import atheris

with atheris.instrument_imports(include=["ack_function", "shared", "slack_bolt"]):
    from ack_function.adapter import SlackRequestHandler
    from ack_function.app import build_app
    from ack_function.handler import handle
    from shared.confirm import seal
    from shared.inventory import Inventory

from tests.events import SHAPES
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_ack_fuzz import (
    SECRET,
    click_body,
    prompt_job,
    reply_invariants,
    signed_event,
    token_invariant,
)
from tests.unit.test_policy import POLICY_TOML

QUEUE = RecordingQueue()
HANDLER = SlackRequestHandler(build_app(SECRET, QUEUE, Inventory.from_toml(POLICY_TOML)))
COUNTS: Counter[str] = Counter()
#: Print the counts every so many inputs (libFuzzer ends the process without running atexit hooks).
REPORT_EVERY = 1000
COMMANDS = ["/ops-ping", "/ops-restart", "/ops-migrate", "/deploy-status", "/ops-logs", "/ops-build", "/ops-audit"]


def _pick(fdp: atheris.FuzzedDataProvider, pool: list[str], size: int = 40) -> str:
    """A plausible value (the first when the input runs out, so an exhausted input is a valid request), or fuzz."""
    return fdp.ConsumeUnicodeNoSurrogates(size) if fdp.ConsumeBool() else fdp.PickValueInList(pool)


TEXTS = [
    "",
    "payment",
    "checkout",
    "billing v42",
    "payment --since 5m",
    "nosuch",
    "payment extra args",
    "checkout <!channel> <https://evil.example|ok> & ```",
    "deploy-web delay=0 token=x ENV=prod",
]
USERS = ["U0ALICE", "U0BOB", "U0SRE1", ""]
CHANNELS = ["C0OPS", "C0DEV", ""]
RESPONSE_URLS = ["https://hooks.slack.com/commands/T0001/1/abc", "https://evil.example/x", "http://127.0.0.1/x"]


def body_from(fdp: atheris.FuzzedDataProvider) -> bytes:
    """0: a slash command, 1: a block_actions click, 2: an app_mention event, 3: raw bytes."""
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 3:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
    text, user = _pick(fdp, TEXTS, 60), _pick(fdp, USERS, 12)
    if kind == 0:
        fields = {
            "command": _pick(fdp, COMMANDS, 20),
            "text": text,
            "user_id": user,
            "channel_id": _pick(fdp, CHANNELS, 12),
            "team_id": _pick(fdp, ["T0001"], 12),
            "trigger_id": f"{fdp.ConsumeIntInRange(0, 2**31)}.fuzz",
            "response_url": _pick(fdp, RESPONSE_URLS),
        }
        dropped = fdp.PickValueInList([None, None, None, *fields]) if fdp.ConsumeBool() else None
        return urllib.parse.urlencode({k: v for k, v in fields.items() if k != dropped}).encode()
    if kind == 1:
        payload: Any = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T0001"},
            "trigger_id": f"{fdp.ConsumeIntInRange(0, 2**31)}.fuzz",
            "response_url": _pick(fdp, RESPONSE_URLS),
            "actions": [
                {"action_id": _pick(fdp, ["opsbot_confirm", "opsbot_cancel", "opsbot_approve"]), "value": text}
            ],
        }
        if fdp.ConsumeBool():
            payload = _pick(fdp, ["null", "[]", "{}"])
            return urllib.parse.urlencode({"payload": payload}).encode()
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    event = {"type": "app_mention", "user": user, "text": f"<@U0BOT> {text}", "channel": _pick(fdp, CHANNELS, 12)}
    event_id = f"Ev{fdp.ConsumeIntInRange(0, 2**31)}"
    return json.dumps({"type": "event_callback", "team_id": "T0001", "event_id": event_id, "event": event}).encode()


PURPOSES = ["confirm", "cancel", "approve", "reject"]
ACTIONS = ["opsbot_confirm", "opsbot_cancel", "opsbot_approve", "opsbot_reject"]


def token_input(fdp: atheris.FuzzedDataProvider) -> None:
    """A signed click with a real token: accepted only for its purpose, team and the right person."""
    made_for, action_id = fdp.PickValueInList(PURPOSES), fdp.PickValueInList(ACTIONS)
    requester, clicker = fdp.PickValueInList(USERS[:3]), fdp.PickValueInList(USERS[:3])
    token_team, click_team = fdp.PickValueInList(["T0001", "T0OTHER"]), fdp.PickValueInList(["T0001", "T0OTHER"])
    token = seal(prompt_job(requester, token_team, _pick(fdp, TEXTS, 80) or "payment"), SECRET, made_for)
    before = len(QUEUE.jobs)
    response = handle(
        HANDLER, signed_event("http_api_v2", click_body(action_id, token, clicker, click_team)), FakeLambdaContext()
    )
    COUNTS["inputs"] += 1
    COUNTS["tokens tried"] += 1
    COUNTS[f"status {response['statusCode']}"] += 1
    if response["statusCode"] >= 500:
        raise AssertionError(f"5xx for a click: {response!r}")
    token_invariant(made_for, action_id, requester, clicker, token_team, click_team, QUEUE.jobs[before:])
    reply_invariants(response, QUEUE.jobs[before:], COUNTS)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        token_input(fdp)
        _report()
        return
    shape = fdp.PickValueInList(list(SHAPES))
    body = body_from(fdp)
    skew = fdp.ConsumeIntInRange(-1000, 1000) if fdp.ConsumeBool() else 0
    event = signed_event(shape, body, int(time.time()) + skew)
    authentic = abs(skew) <= 300
    if fdp.ConsumeBool():  # changed after signing
        changed = body + fdp.ConsumeBytes(4) if fdp.ConsumeBool() else body[: fdp.ConsumeIntInRange(0, len(body))]
        authentic = authentic and changed == body
        event["body"] = base64.b64encode(changed).decode()
    if fdp.ConsumeBool():  # a header overwritten with fuzz
        name = fdp.PickValueInList(
            ["x-slack-signature", "x-slack-request-timestamp", "content-type", "X-Slack-Signature"]
        )
        value = fdp.ConsumeUnicodeNoSurrogates(70)
        headers = event["headers"]
        if value != headers.get(name):
            authentic = authentic and not name.lower().startswith("x-slack")
        headers[name] = value
    if fdp.ConsumeBool():  # not base64 after all
        event["isBase64Encoded"] = False
        authentic = False
    before = len(QUEUE.jobs)
    response = handle(HANDLER, event, FakeLambdaContext())
    status = response["statusCode"]
    COUNTS["inputs"] += 1
    COUNTS[f"status {status}"] += 1
    if status >= 500:
        raise AssertionError(f"5xx for {event!r}: {response!r}")
    if len(QUEUE.jobs) > before and not authentic:
        raise AssertionError(f"queued without a valid signature: {event!r}")
    COUNTS["queued"] += len(QUEUE.jobs) - before
    reply_invariants(response, QUEUE.jobs[before:], COUNTS)
    _report()


def _report() -> None:
    if COUNTS["inputs"] % REPORT_EVERY == 0:
        print(f"atheris ack fuzzing: {dict(COUNTS)}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> None:
    logging.disable(logging.WARNING)  # the ack logs every malformed request; thousands a second here
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
