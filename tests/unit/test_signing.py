"""Slack's documented signing example (api.slack.com/authentication/verifying-requests-from-slack)."""

from __future__ import annotations

from slack_sdk.signature import Clock, SignatureVerifier

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from tests.events import load_event
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = 1531420618
BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class FrozenClock(Clock):
    def now(self) -> float:
        return TIMESTAMP + 10


def test_slacks_documented_example_signs_to_the_documented_signature():
    assert SignatureVerifier(SECRET).generate_signature(timestamp=str(TIMESTAMP), body=BODY) == SIGNATURE


def test_slacks_documented_example_verifies_at_its_own_time():
    verifier = SignatureVerifier(SECRET, clock=FrozenClock())
    headers = {"x-slack-request-timestamp": str(TIMESTAMP), "x-slack-signature": SIGNATURE}

    assert verifier.is_valid_request(BODY, headers)
    assert not verifier.is_valid_request(BODY.replace("roadrunner", "coyote"), headers)


def test_the_documented_request_replayed_today_is_refused_as_stale():
    queue = RecordingQueue()
    handler = SlackRequestHandler(build_app(SECRET, queue))
    event = load_event("http_api_v2", BODY.encode(), SECRET, timestamp=TIMESTAMP, signature=SIGNATURE)

    assert handle(handler, event, FakeLambdaContext())["statusCode"] == 401
    assert queue.jobs == []
