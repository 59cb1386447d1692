"""Signed Slack requests opsbot does not handle (app_rate_limited, other events, other interactions): answered
200 and logged, nothing queued; Slack disables the event subscriptions of an app that fails over 5% of them."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from tests.events import load_event
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "test-signing-secret"

APP_RATE_LIMITED = {
    "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    "type": "app_rate_limited",
    "team_id": "T0001",
    "minute_rate_limited": 1518467820,
    "api_app_id": "A0OPSBOT",
}


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue: RecordingQueue) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue))


def answer(handler: SlackRequestHandler, body: bytes) -> dict:
    return handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())


def test_app_rate_limited_is_answered_200_logged_and_queues_nothing(handler, queue, caplog):
    with caplog.at_level(logging.INFO):
        response = answer(handler, json.dumps(APP_RATE_LIMITED).encode())

    assert response["statusCode"] == 200
    assert queue.jobs == []
    assert any("rate-limited events" in r.getMessage() and "1518467820" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {"type": "event_callback", "team_id": "T0001", "event_id": "Ev1", "event": {"type": "reaction_added"}}
        ).encode(),
        urlencode(
            {"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "not_ours"}], "team": {}})}
        ).encode(),
        urlencode({"payload": json.dumps({"type": "shortcut", "callback_id": "x", "team": {"id": "T0001"}})}).encode(),
    ],
    ids=["an-event", "a-click", "a-shortcut"],
)
def test_events_and_interactions_opsbot_does_not_handle_get_200_and_nothing_queued(handler, queue, body):
    assert answer(handler, body)["statusCode"] == 200
    assert queue.jobs == []


def test_an_unsigned_app_rate_limited_is_still_refused(handler, queue):
    event = load_event("http_api_v2", json.dumps(APP_RATE_LIMITED).encode(), "another-secret")

    assert handle(handler, event, FakeLambdaContext())["statusCode"] == 401
    assert queue.jobs == []
