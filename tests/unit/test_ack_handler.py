"""The ack function end to end in-process: signed events of every shape -> reply + queue."""

from __future__ import annotations

import json

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands.builtin.deploy_status import DeployStatusArgs
from tests.events import SHAPES, load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "test-signing-secret"


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue: RecordingQueue) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue))


def ack_text(response: dict) -> str:
    assert response["statusCode"] == 200, response
    return str(json.loads(response["body"])["text"])


@pytest.mark.parametrize("shape", SHAPES)
def test_given_a_signed_command_in_any_event_shape_when_handled_then_one_job_is_queued(shape, handler, queue):
    event = load_event(shape, slash_body("/deploy-status", "payment"), SECRET)

    response = handle(handler, event, FakeLambdaContext())

    [job] = queue.jobs
    assert job.args == DeployStatusArgs(service="payment")
    assert job.requester.user_id == "U2147483697"
    assert job.response_url == "https://hooks.slack.com/commands/T0001/1234/abcd"
    assert f"queued as job `{job.short_id}`" in ack_text(response)
    assert json.loads(response["body"])["response_type"] == "ephemeral"


def test_the_same_slack_request_twice_is_the_same_job(handler, queue):
    body = slash_body("/ops-ping")
    for _ in range(2):
        handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
    other = slash_body("/ops-ping", trigger_id="99999.11111.ffff")
    handle(handler, load_event("http_api_v2", other, SECRET), FakeLambdaContext())

    ids = [job.job_id for job in queue.jobs]
    assert ids[0] == ids[1] != ids[2]


def test_text_that_does_not_parse_gets_usage_and_queues_nothing(handler, queue):
    response = handle(handler, load_event("http_api_v2", slash_body("/deploy-status", ""), SECRET), FakeLambdaContext())

    text = ack_text(response)
    assert "Usage: `/deploy-status &lt;target&gt;`" in text
    assert queue.jobs == []


def test_an_invalid_service_name_gets_usage_and_queues_nothing(handler, queue):
    body = slash_body("/deploy-status", "pay;rm -rf")
    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())

    assert "Usage:" in ack_text(response)
    assert queue.jobs == []


def test_an_unknown_command_gets_the_command_list_and_queues_nothing(handler, queue):
    response = handle(
        handler, load_event("http_api_v2", slash_body("/ops-frobnicate", "x"), SECRET), FakeLambdaContext()
    )

    text = ack_text(response)
    assert "I don't know `/ops-frobnicate`" in text
    assert "`/deploy-status &lt;target&gt;`" in text and "`/ops-ping [seconds]`" in text
    assert queue.jobs == []


def test_a_failed_enqueue_never_claims_queued(handler, queue):
    queue.fail = True
    response = handle(handler, load_event("http_api_v2", slash_body("/ops-ping"), SECRET), FakeLambdaContext())

    text = ack_text(response)
    assert "nothing was run" in text
    assert "queued as job" not in text


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda e: e["headers"].update({"x-slack-signature": "v0=" + "0" * 64}), id="bad-signature"),
        pytest.param(lambda e: e["headers"].pop("x-slack-signature"), id="missing-signature"),
        pytest.param(lambda e: e["headers"].pop("x-slack-request-timestamp"), id="missing-timestamp"),
        pytest.param(lambda e: e.update({"body": e["body"][:-8] + "AAAAAAA="}), id="body-changed-after-signing"),
    ],
)
def test_requests_that_fail_verification_get_401_and_queue_nothing(tamper, handler, queue):
    event = load_event("http_api_v2", slash_body("/ops-ping"), SECRET)
    tamper(event)

    response = handle(handler, event, FakeLambdaContext())

    assert response["statusCode"] == 401
    assert queue.jobs == []


def test_a_timestamp_older_than_five_minutes_is_refused(handler, queue):
    import time

    event = load_event("http_api_v2", slash_body("/ops-ping"), SECRET, timestamp=int(time.time()) - 301)

    assert handle(handler, event, FakeLambdaContext())["statusCode"] == 401
    assert queue.jobs == []


def test_a_body_that_is_not_base64_is_a_400(handler, queue):
    event = load_event("http_api_v2", slash_body("/ops-ping"), SECRET)
    event["body"] = "%%% not base64 %%%"

    assert handle(handler, event, FakeLambdaContext())["statusCode"] == 400
    assert queue.jobs == []


def test_a_signed_body_that_is_no_slack_request_is_a_400(handler, queue):
    event = load_event("http_api_v2", b"hello=world", SECRET)

    assert handle(handler, event, FakeLambdaContext())["statusCode"] == 400
    assert queue.jobs == []


def test_a_missing_signing_secret_fails_closed():
    event = load_event("http_api_v2", slash_body("/ops-ping"), SECRET)

    response = handle(None, event, FakeLambdaContext())

    assert response["statusCode"] == 503
