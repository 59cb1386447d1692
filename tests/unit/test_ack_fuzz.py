"""Fuzzing the ack handler (hypothesis): random and mutated bodies, headers, encodings, timestamps and event
shapes. Asserts: never a 5xx from our code, never a job queued without a valid signature, never an
exception escaping; every reply (the ack's body, every notice it queues) within Slack's limits and carrying no
live markup from input (`reply_invariants`); no token accepted for another purpose, user or team
(`token_invariant`). `FUZZ_COUNTS` counts the inputs tried per invariant (printed with `pytest -s`)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import time
import urllib.parse
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands import ApprovalRequestArgs, NoticeArgs, SettleArgs
from shared.commands.builtin.migrate import MigrateArgs
from shared.confirm import PURPOSE_OF_ACTION, seal
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester, utcnow
from tests.events import SHAPES, load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_policy import POLICY_TOML

SECRET = "fuzz-signing-secret"
FUZZ_COUNTS: Counter[str] = Counter()
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

QUEUE = RecordingQueue()
HANDLER = SlackRequestHandler(build_app(SECRET, QUEUE, Inventory.from_toml(POLICY_TOML)))

COMMANDS = [
    "/ops-ping",
    "/ops-restart",
    "/ops-migrate",
    "/deploy-status",
    "/ops-logs",
    "/ops-build",
    "/ops-audit",
    "/x",
]
texts = st.text(max_size=60) | st.sampled_from(["payment", "payment 1.2", "--since 5m", "a=b c", "", " \x00 "])
field_values = st.text(max_size=40) | st.sampled_from(["", "U0ALICE", "C0OPS", "T0001", "https://evil.example/x"])


def valid_bodies() -> st.SearchStrategy[bytes]:
    """Slack-shaped bodies: slash commands with random fields, block_actions and events with random JSON."""
    slash = st.builds(
        lambda c, t, extra: slash_body(c, t, **extra),
        st.sampled_from(COMMANDS) | st.text(max_size=20),
        texts,
        st.dictionaries(
            st.sampled_from(["user_id", "channel_id", "team_id", "trigger_id", "response_url", "ssl_check"]),
            field_values,
            max_size=4,
        ),
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=10,
    )
    action = st.builds(
        lambda action_id, value, user, extra: urllib.parse.urlencode(
            {
                "payload": json.dumps(
                    {
                        "type": "block_actions",
                        "user": {"id": user},
                        "team": {"id": "T0001"},
                        "actions": [{"action_id": action_id, "value": value}],
                        **extra,
                    }
                )
            }
        ).encode(),
        st.sampled_from(["opsbot_confirm", "opsbot_cancel", "other"]),
        st.text(max_size=80),
        field_values,
        st.dictionaries(
            st.sampled_from(["response_url", "trigger_id", "channel", "container"]), json_values, max_size=2
        ),
    )
    event = st.builds(
        lambda ev, extra: json.dumps(
            {"type": "event_callback", "team_id": "T0001", "event_id": "Ev1", "event": ev, **extra}
        ).encode(),
        st.fixed_dictionaries(
            {"type": st.just("app_mention")},
            optional={"user": field_values, "text": texts, "channel": field_values, "ts": field_values},
        ),
        st.dictionaries(st.sampled_from(["challenge", "type", "token", "event_id"]), json_values, max_size=2),
    )
    other = st.sampled_from(
        [
            b"ssl_check=1",
            b'{"type":"url_verification","challenge":"abc"}',
            b"payload=%7B%7D",
            b"payload=null",
            b"payload=%5B%5D",
        ]
    )
    return slash | action | event | other | st.binary(max_size=300)


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """The body with a byte flipped, cut short, or with random bytes inserted."""
    if not body:
        return draw(st.binary(min_size=1, max_size=20))
    position = draw(st.integers(0, len(body) - 1))
    match draw(st.sampled_from(["flip", "cut", "insert"])):
        case "flip":
            return body[:position] + bytes([body[position] ^ draw(st.integers(1, 255))]) + body[position + 1 :]
        case "cut":
            return body[:position]
        case _:
            return body[:position] + draw(st.binary(min_size=1, max_size=10)) + body[position:]


def content_type(body: bytes) -> str:
    return "application/json" if body.startswith(b"{") else "application/x-www-form-urlencoded"


def signed_event(shape: str, body: bytes, timestamp: int | None = None) -> dict[str, Any]:
    event = load_event(shape, b"", SECRET)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    # Slack's v0 scheme over the raw bytes (SignatureVerifier would refuse bytes that are not UTF-8).
    sig = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {k: v for k, v in event["headers"].items() if not k.lower().startswith("x-slack")}
    if shape == "rest_api_v1":
        headers |= {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, "Content-Type": content_type(body)}
    else:
        headers |= {"x-slack-request-timestamp": ts, "x-slack-signature": sig, "content-type": content_type(body)}
        headers.pop("Content-Type", None)
    event["headers"] = headers
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    return event


#: The markup opsbot itself puts in the ack's replies with this inventory (who to ask, where approvals go).
_OURS = re.compile(r"<(!subteam\^S0SRE|#C0OPS|#C0APPROVALS|@U0DAN|@U0ALICE)>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def reply_invariants(response: dict[str, Any], queued: list[JobEnvelope], counts: Counter[str]) -> None:
    """Every message the ack produced (its body; the notices it queued) fits Slack's limits and carries no `<`,
    `>` or bare `&` but opsbot's own markup."""
    from slack_sdk.models.blocks import Block

    replies: list[dict[str, Any]] = []
    body = response.get("body")
    if response.get("statusCode") == 200 and isinstance(body, str) and body.startswith("{"):
        replies.append(json.loads(body))
    replies += [{"text": j.args.text} for j in queued if isinstance(j.args, NoticeArgs)]
    for reply in replies:
        text = reply.get("text", "")
        blocks = reply.get("blocks", [])
        assert len(text) <= 40_000 and len(blocks) <= 50, reply
        for block in blocks:
            Block.parse(block).to_dict()  # type: ignore[union-attr]
        counts["replies within limits"] += 1
        for markup in [text, *(json.dumps(b) for b in blocks if b.get("type") != "actions")]:
            leftover = _OURS.sub("", markup)
            assert "<" not in leftover and ">" not in leftover and not _ENTITY.search(leftover), markup
        counts["replies escaped"] += 1


def run(event: Any) -> dict[str, Any]:
    """The handler's answer; an exception escaping it fails the test."""
    before = len(QUEUE.jobs)
    response = handle(HANDLER, event, FakeLambdaContext())
    assert isinstance(response, dict) and isinstance(response.get("statusCode"), int)
    assert response["statusCode"] < 500, response
    FUZZ_COUNTS["inputs"] += 1
    FUZZ_COUNTS[f"status {response['statusCode']}"] += 1
    response["_queued"] = len(QUEUE.jobs) - before
    reply_invariants(response, QUEUE.jobs[before:], FUZZ_COUNTS)
    return response


def prompt_job(user: str, team: str, text: str = "payment 1.0") -> JobEnvelope:
    """A job awaiting a decision, as the ack seals it into a prompt's buttons."""
    return JobEnvelope(
        job_id="fuzz-prompt-job",
        command="/ops-migrate",
        text=text,
        args=MigrateArgs(target="payment", version="1.0"),
        requester=Requester(user_id=user, team_id=team, channel_id="C0OPS"),
        response_url="https://hooks.slack.com/commands/T0001/1/secret",
        issued_at=utcnow(),
        correlation_id="fuzz-prompt-job",
    )


def click_body(action_id: str, value: str, user: str, team: str, user_team: str | None = None) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": user_team or team},
        "team": {"id": team},
        "channel": {"id": "C0OPS"},
        "trigger_id": f"7.7.{action_id}.{user}.{team}",
        "response_url": "https://hooks.slack.com/actions/T0001/2/click",
        "actions": [{"action_id": action_id, "value": value}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def token_invariant(
    made_for: str, action_id: str, requester: str, clicker: str, token_team: str, click_team: str, queued: list[Any]
) -> None:
    """A click decides something (a confirmed or approved job, a cancel or a rejection) only with a token made
    for that button, from the token's team, by the requester (Confirm, Cancel) or someone else (Approve)."""
    decided = [j for j in queued if not isinstance(j.args, NoticeArgs | ApprovalRequestArgs)]
    purpose = PURPOSE_OF_ACTION.get(action_id)
    allowed = purpose == made_for and token_team == click_team
    if purpose in ("confirm", "cancel"):
        allowed = allowed and clicker == requester
    if purpose == "approve":
        allowed = allowed and clicker != requester
    if not allowed:
        assert decided == [], (made_for, action_id, requester, clicker, token_team, click_team, decided)
    for job in decided:
        assert job.confirmed_by in (None, clicker) and job.approved_by in (None, clicker)
        assert not isinstance(job.args, SettleArgs) or job.args.by == clicker


@FUZZ
@given(shape=st.sampled_from(SHAPES), body=valid_bodies(), timestamp=st.integers(0, 2**33) | st.none())
def test_signed_random_bodies_never_crash_nor_5xx(shape, body, timestamp):
    """Validly signed (a fresh or random timestamp): whatever the body, an answer below 500, no exception."""
    response = run(signed_event(shape, body, timestamp))
    if timestamp is not None and abs(time.time() - timestamp) > 300:
        assert response["_queued"] == 0  # stale: refused (401), or ssl_check answered 200 as Slack documents


@FUZZ
@given(shape=st.sampled_from(SHAPES), body=valid_bodies(), data=st.data())
def test_a_body_changed_after_signing_queues_nothing(shape, body, data):
    event = signed_event(shape, body)
    changed = data.draw(mutated(body))
    event["body"] = base64.b64encode(changed).decode()

    response = run(event)

    if changed != body:
        assert response["_queued"] == 0
        FUZZ_COUNTS["tampered"] += 1


header_names = st.sampled_from(
    [
        "x-slack-signature",
        "X-Slack-Signature",
        "x-slack-request-timestamp",
        "X-Slack-Request-Timestamp",
        "content-type",
        "Content-Type",
        "x-slack-retry-num",
        "content-length",
    ]
)
header_values = st.text(max_size=80) | st.sampled_from(["v0=" + "0" * 64, "v0=", "", "0", "-1", "1e9", "9" * 30])


@FUZZ
@given(
    shape=st.sampled_from(SHAPES),
    body=valid_bodies(),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    encode=st.sampled_from(["base64", "plain", "latin1-plain", "bad-base64"]),
)
def test_unsigned_or_forged_requests_queue_nothing(shape, body, headers, encode):
    event = signed_event(shape, body)
    event["headers"] = {k: v for k, v in event["headers"].items() if not k.lower().startswith("x-slack")} | headers
    if encode == "plain":
        event["body"], event["isBase64Encoded"] = body.decode("utf-8", "replace"), False
    elif encode == "latin1-plain":
        event["body"], event["isBase64Encoded"] = body.decode("latin-1"), False
    elif encode == "bad-base64":
        event["body"] = event["body"][:-1] + "!"

    response = run(event)

    assert response["_queued"] == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=12,
)


@FUZZ
@given(
    shape=st.sampled_from(SHAPES),
    body=valid_bodies(),
    path=st.lists(st.text(max_size=12), min_size=1, max_size=3),
    value=json_values,
)
def test_events_of_odd_shapes_never_crash_nor_5xx_and_unsigned_queue_nothing(shape, body, path, value):
    """A key of the Lambda event (headers, requestContext, body, ...) replaced by any JSON value."""
    event = signed_event(shape, body)
    keys = [*event, "headers", "body", "isBase64Encoded", "requestContext"]
    target: Any = event
    first = path[0] if path[0] in event else keys[sum(map(ord, path[0])) % len(keys)]
    *parents, last = [first, *path[1:]]
    for key in parents:
        child = target.get(key) if isinstance(target, dict) else None
        target = child if isinstance(child, dict) else None
    if isinstance(target, dict):
        original = copy.deepcopy(event)
        target[last] = value
        changed = event != original
    else:
        changed = False

    response = run(event)

    if changed and (first == "body" or (first == "headers" and len(path) == 1)):
        assert response["_queued"] == 0  # the signed bytes or the signature itself are gone
    if changed:
        FUZZ_COUNTS["odd-shape"] += 1


HOSTILE = st.sampled_from(
    ["<!channel>", "<@U0ALICE>", "<https://evil.example|:white_check_mark: approved>", "```", "&", "<#C0OPS>", ">"]
)
hostile_texts = st.lists(HOSTILE | st.text(max_size=30) | st.sampled_from(["payment", "checkout", "a=b"]), max_size=6)


@FUZZ
@given(
    command=st.sampled_from(COMMANDS) | st.text(max_size=20),
    words=hostile_texts,
    size=st.sampled_from([0, 0, 0, 5000, 40_000]),
    as_mention=st.booleans(),
)
def test_replies_fit_and_carry_no_live_markup_from_input(command, words, size, as_mention):
    """Whatever the text (mentions, disguised links, entities, backticks, 40,000 characters), every reply fits
    and shows the input inert."""
    text = " ".join(words) + ("x" * size if size else "")
    if as_mention:
        event = {"type": "app_mention", "user": "U0ALICE", "text": f"<@U0BOT> {command.lstrip('/')} {text}"}
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0001",
                "event_id": f"Ev{hash(text)}",
                "event": event | {"ts": "1.2", "channel": "C0OPS"},
            }
        ).encode()
    else:
        body = slash_body(command, text, user_id="U0ALICE", channel_id="C0OPS")
    run(signed_event("http_api_v2", body))
    FUZZ_COUNTS["hostile texts"] += 1


users = st.sampled_from(["U0ALICE", "U0DAN", "U0MALLORY"])
teams = st.sampled_from(["T0001", "T0OTHER"])


@FUZZ
@given(
    made_for=st.sampled_from(["confirm", "cancel", "approve", "reject"]),
    action_id=st.sampled_from(["opsbot_confirm", "opsbot_cancel", "opsbot_approve", "opsbot_reject"]),
    requester=users,
    clicker=users,
    token_team=teams,
    click_team=teams,
)
def test_no_token_is_accepted_for_another_purpose_user_or_team(
    made_for, action_id, requester, clicker, token_team, click_team
):
    token = seal(prompt_job(requester, token_team), SECRET, made_for)
    before = len(QUEUE.jobs)

    run(signed_event("http_api_v2", click_body(action_id, token, clicker, click_team)))

    token_invariant(made_for, action_id, requester, clicker, token_team, click_team, QUEUE.jobs[before:])
    FUZZ_COUNTS["tokens tried"] += 1


def test_zz_report_fuzz_counts(capsys):
    """Printed with -s; the count is the number of inputs the handler answered without a 5xx or an exception."""
    with capsys.disabled():
        print(f"\nack fuzzing: {dict(FUZZ_COUNTS)}; jobs queued from validly signed bodies: {len(QUEUE.jobs)}")
    assert FUZZ_COUNTS["inputs"] >= 4 * 250 or FUZZ_COUNTS["inputs"] == 0
