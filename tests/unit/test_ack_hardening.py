"""Inputs that must not get through the ack: ssl_check bypasses, oversized bodies, odd methods."""

from __future__ import annotations

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import MAX_BODY_BYTES, handle
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "hardening-secret"


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue):
    return SlackRequestHandler(build_app(SECRET, queue))


def unsigned(body: bytes) -> dict:
    event = load_event("http_api_v2", body, SECRET)
    del event["headers"]["x-slack-signature"], event["headers"]["x-slack-request-timestamp"]
    return event


def test_slacks_ssl_check_is_answered_as_documented_without_a_signature(handler, queue):
    response = handle(handler, unsigned(b"ssl_check=1&token=abc"), FakeLambdaContext())

    assert (response["statusCode"], response["body"]) == (200, "")
    assert queue.jobs == []


def test_an_unsigned_command_carrying_ssl_check_is_not_run(handler, queue):
    """Bolt < 1.30 skipped verification for a body with ssl_check=1 (platform-facts: known bypasses)."""
    handle(handler, unsigned(slash_body("/ops-restart", "payment", ssl_check="1")), FakeLambdaContext())

    assert queue.jobs == []


def test_an_oversized_body_is_refused_before_anything_else(handler, queue):
    body = slash_body("/ops-ping", text="x" * MAX_BODY_BYTES)

    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())

    assert response["statusCode"] == 413
    assert queue.jobs == []


def test_a_get_is_not_found_and_runs_nothing(handler, queue):
    event = load_event("http_api_v2", slash_body("/ops-ping"), SECRET)
    event["requestContext"]["http"]["method"] = "GET"

    assert handle(handler, event, FakeLambdaContext())["statusCode"] in (400, 404, 405)
    assert queue.jobs == []
