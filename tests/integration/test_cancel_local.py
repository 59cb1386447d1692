"""/ops-cancel, /ops-jobs and App Home on the whole local stack, as `opsbot send` drives it: signed requests to
the ingress, the ack, SQS on moto, the poller, the worker, the local CodeBuild and the local Slack API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from infra.devstack.client import run_command
from infra.devstack.slack_request import SignedRequest, post, sign
from infra.devstack.stack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2, log_level="WARNING") as running:
        # A regression run that lasts an hour of the stand-in's (real) clock: it is still running when cancelled.
        running.codebuild.add_project("regression-smoke", duration_s=3600, tests={"SUCCEEDED": 1})
        yield running


def quiet(_: str) -> None:
    pass


def test_opsbot_send_ops_cancel_stops_a_running_regression_and_tells_the_requester(stack):
    started = run_command("/ops-regression smoke", stack.target, timeout=1, emit=quiet)
    assert started.job is not None, started.error
    assert stack.slack.wait_for_messages(job=started.job, timeout=20), "the regression never started"

    listed = run_command("/ops-jobs smoke", stack.target, timeout=20, emit=quiet, user_id="U0OTHER")
    assert listed.ok, listed.error
    assert f"`{started.job}` `/ops-regression smoke`" in json.dumps(listed.messages[-1].payload["blocks"])

    cancelled = run_command(f"/ops-cancel {started.job}", stack.target, timeout=20, emit=quiet)

    assert cancelled.ok, (cancelled.error, [m.text for m in cancelled.messages])
    said = cancelled.messages[-1].text
    assert f"Job `{started.job}` (`/ops-regression smoke`) was cancelled" in said and "StopBuild" in said
    assert stack.codebuild.builds_of("regression-smoke")[-1].stopped_at is not None
    again = run_command(f"/ops-cancel {started.job}", stack.target, timeout=20, emit=quiet)
    assert again.result == "refused" and "was already cancelled" in again.messages[-1].text


def test_opsbot_send_ops_cancel_of_someone_elses_job_is_refused(stack):
    started = run_command("/ops-regression smoke", stack.target, timeout=1, emit=quiet)
    assert started.job is not None and stack.slack.wait_for_messages(job=started.job, timeout=20)

    refused = run_command(f"/ops-cancel {started.job}", stack.target, timeout=20, emit=quiet, user_id="U0MALLORY")

    assert refused.result == "refused" and "You may not cancel job" in refused.messages[-1].text
    mine = run_command(f"/ops-cancel {started.job}", stack.target, timeout=20, emit=quiet)
    assert mine.ok


def home_opened(stack: LocalStack, user: str, event_id: str) -> int:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T0LOCAL",
            "api_app_id": "A0OPSBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1795766400,
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"},
        }
    ).encode()
    headers = {**sign(body, stack.signing_secret), "Content-Type": "application/json"}
    return post(stack.target.events_url, SignedRequest(body=body, headers=headers)).status


def test_opening_the_home_tab_is_acked_queued_and_published_by_the_worker(stack):
    started = run_command("/ops-regression smoke", stack.target, timeout=1, emit=quiet, user_id="U0HOMER")
    assert started.job is not None and stack.slack.wait_for_messages(job=started.job, timeout=20)

    assert home_opened(stack, "U0HOMER", "Ev0HOME01") == 200

    deadline = time.monotonic() + 20  # a bound on the wait, not a timed assertion
    while not stack.slack.home_views("U0HOMER") and time.monotonic() < deadline:
        time.sleep(0.1)
    [view] = stack.slack.home_views("U0HOMER")
    assert view["type"] == "home" and f"`{started.job}` `/ops-regression smoke`" in json.dumps(view["blocks"])
    run_command(f"/ops-cancel {started.job}", stack.target, timeout=20, emit=quiet, user_id="U0HOMER")
