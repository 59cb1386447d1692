"""Events API: `@opsbot deploy-status payment` runs the same commands, answered in the thread."""

from __future__ import annotations

import json

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands import NoticeArgs
from shared.commands.builtin.deploy_status import DeployStatusArgs
from tests.events import load_event
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "test-signing-secret"


def mention_body(text: str, *, event_id: str = "Ev0001", thread_ts: str | None = None) -> bytes:
    event = {
        "type": "app_mention",
        "user": "U2147483697",
        "text": text,
        "ts": "1795766400.000100",
        "channel": "C2147483705",
        "event_ts": "1795766400.000100",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1795766400,
            "event": event,
        }
    ).encode()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue):
    return SlackRequestHandler(build_app(SECRET, queue))


def send(handler, body: bytes, **headers: str) -> dict:
    event = load_event("http_api_v2", body, SECRET)
    event["headers"].update({"content-type": "application/json", **headers})
    return handle(handler, event, FakeLambdaContext())


def test_a_mention_queues_the_command_answered_in_its_thread(handler, queue):
    response = send(handler, mention_body("<@U0BOT> deploy-status payment"))

    assert response["statusCode"] == 200
    [job] = queue.jobs
    assert job.args == DeployStatusArgs(service="payment")
    assert job.requester.thread_ts == "1795766400.000100"
    assert job.response_url is None


def test_a_mention_inside_a_thread_answers_in_that_thread(handler, queue):
    send(handler, mention_body("<@U0BOT> /ops-ping", thread_ts="1795766000.000001"))

    assert queue.jobs[0].requester.thread_ts == "1795766000.000001"


def test_slacks_retry_of_an_event_is_the_same_job(handler, queue):
    body = mention_body("<@U0BOT> deploy-status payment", event_id="Ev42")
    send(handler, body)
    send(handler, body, **{"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"})

    assert len(queue.jobs) == 2
    assert queue.jobs[0].job_id == queue.jobs[1].job_id


def test_a_mention_that_is_no_command_queues_the_help_as_a_notice(handler, queue):
    send(handler, mention_body("<@U0BOT> please restart everything"))

    [job] = queue.jobs
    assert isinstance(job.args, NoticeArgs)
    assert "I don't know `/please`" in job.args.text and "/deploy-status" in job.args.text


def test_a_mention_whose_enqueue_fails_gets_a_non_2xx_so_slack_retries(handler, queue):
    queue.fail = True

    response = send(handler, mention_body("<@U0BOT> deploy-status payment"))

    assert response["statusCode"] >= 500


def test_url_verification_is_answered_with_the_challenge(handler, queue):
    body = json.dumps({"token": "x", "challenge": "c-123", "type": "url_verification"}).encode()

    response = send(handler, body)

    assert json.loads(response["body"]) == {"challenge": "c-123"}
    assert queue.jobs == []


def test_an_unsigned_event_is_refused(handler, queue):
    event = load_event("http_api_v2", mention_body("<@U0BOT> /ops-ping"), "not-the-secret")

    assert handle(handler, event, FakeLambdaContext())["statusCode"] == 401
    assert queue.jobs == []
