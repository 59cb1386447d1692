"""The local API Gateway: a signed Slack request becomes a payload-2.0 event; the result becomes the response."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from infra.devstack.ingress import Ingress
from infra.devstack.slack_request import SlashCommand, post, signed_slash_command

pytestmark = pytest.mark.integration

SECRET = "test-signing-secret"


@dataclass
class RecordingAck:
    """Records each event and answers with `result` (or raises when `result` is an exception)."""

    result: Any = field(default_factory=lambda: {"statusCode": 200, "body": '{"text": "ok"}', "headers": {}})
    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def ack() -> RecordingAck:
    return RecordingAck()


@pytest.fixture
def ingress(ack: RecordingAck) -> Iterator[Ingress]:
    with Ingress(ack) as server:
        yield server


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_slash_command_arrives_as_a_verifiable_http_api_event(ingress, ack):
    request = signed_slash_command(SlashCommand(command="/ops-ping", text="2"), SECRET)

    result = post(ingress.events_url, request)

    assert result.status == 200 and json.loads(result.body) == {"text": "ok"}
    [event] = ack.events
    assert event["version"] == "2.0" and event["routeKey"] == "POST /slack/events"
    assert event["rawPath"] == "/slack/events" and event["requestContext"]["http"]["method"] == "POST"
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is True
    body = base64.b64decode(event["body"])
    assert body == request.body
    assert SignatureVerifier(SECRET).is_valid_request(body, event["headers"])


def test_status_headers_and_body_of_the_result_are_returned(ingress, ack):
    ack.result = {"statusCode": 401, "body": "invalid request", "headers": {"X-Slack-No-Retry": "1"}}

    result = post(ingress.events_url, signed_slash_command(SlashCommand(command="/x"), SECRET))

    assert (result.status, result.body) == (401, "invalid request")
    assert result.headers["X-Slack-No-Retry"] == "1"


def test_a_plain_json_result_becomes_a_200_json_response(ingress, ack):
    ack.result = {"text": "inferred"}

    result = post(ingress.events_url, signed_slash_command(SlashCommand(command="/x"), SECRET))

    assert result.status == 200 and json.loads(result.body) == {"text": "inferred"}
    assert result.headers["Content-Type"].startswith("application/json")


def test_a_base64_result_is_decoded(ingress, ack):
    ack.result = {"statusCode": 200, "body": base64.b64encode(b"binary").decode(), "isBase64Encoded": True}

    result = post(ingress.events_url, signed_slash_command(SlashCommand(command="/x"), SECRET))

    assert result.body == "binary"


def test_a_raising_handler_gives_api_gateways_500(ingress, ack):
    ack.result = RuntimeError("boom")

    result = post(ingress.events_url, signed_slash_command(SlashCommand(command="/x"), SECRET))

    assert result.status == 500 and json.loads(result.body) == {"message": "Internal Server Error"}


def test_health_and_unknown_routes(ingress, ack):
    assert get(f"{ingress.url}/health")[0] == 200
    assert get(f"{ingress.url}/elsewhere")[0] == 404
    assert get(ingress.events_url)[0] == 404  # only POST is routed
    assert ack.events == []
