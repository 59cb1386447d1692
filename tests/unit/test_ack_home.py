"""App Home: the ack answers `app_home_opened` by queueing the worker's publishing of the tab (never the Web API)."""

from __future__ import annotations

import json

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from shared.commands import HomeArgs
from tests.fakes import RecordingQueue
from tests.unit.test_ack_mentions import SECRET, send


def home_body(tab: str = "home", event_id: str = "EvHOME1") -> bytes:
    event = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": tab, "event_ts": "1.2"}
    envelope = {
        "token": "x",
        "team_id": "T0001",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1795766400,
        "event": event,
    }
    return json.dumps(envelope).encode()


def test_opening_the_home_tab_queues_its_publishing_for_the_viewer():
    queue = RecordingQueue()

    response = send(SlackRequestHandler(build_app(SECRET, queue)), home_body())

    assert response["statusCode"] == 200
    [job] = queue.jobs
    assert isinstance(job.args, HomeArgs) and job.requester.user_id == "U0ALICE" and job.response_url is None


def test_the_messages_tab_queues_nothing_and_a_retry_is_the_same_job():
    queue = RecordingQueue()
    handler = SlackRequestHandler(build_app(SECRET, queue))

    assert send(handler, home_body(tab="messages"))["statusCode"] == 200
    assert queue.jobs == []
    send(handler, home_body())
    send(handler, home_body(), **{"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"})
    assert len({job.job_id for job in queue.jobs}) == 1


def test_a_home_tab_whose_enqueue_fails_gets_a_non_2xx_so_slack_retries():
    queue = RecordingQueue()
    queue.fail = True

    assert send(SlackRequestHandler(build_app(SECRET, queue)), home_body())["statusCode"] >= 500
