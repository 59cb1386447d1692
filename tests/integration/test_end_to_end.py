"""The whole path on the local stack: signed request -> ingress -> ack -> SQS -> poller -> worker -> Slack."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from infra.devstack.client import run_command
from infra.devstack.slack_request import SignedRequest, post, sign
from infra.devstack.stack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2, log_level="INFO") as running:
        yield running


def test_ops_ping_is_acked_queued_run_and_answered(stack):
    outcome = run_command("/ops-ping", stack.target, timeout=20, emit=lambda _: None)

    assert outcome.ok, outcome.error
    assert outcome.ack is not None and outcome.ack.status == 200
    [message] = outcome.messages
    assert message.kind == "response_url" and "pong" in message.text and outcome.job in message.text


def test_deploy_status_payment_is_answered_with_its_deployments(stack):
    outcome = run_command("/deploy-status payment", stack.target, timeout=20, emit=lambda _: None)

    assert outcome.ok, outcome.error
    text = outcome.messages[-1].text
    assert "Deploy status of `payment`" in text and "2/2 running" in text


def test_a_bad_command_is_answered_by_the_ack_and_nothing_runs(stack):
    outcome = run_command("/ops-ping abc", stack.target, timeout=2, emit=lambda _: None)

    assert not outcome.queued and "Usage:" in outcome.ack_text and "must be a number" in outcome.ack_text
    assert outcome.messages == []


def mention(stack: LocalStack, event_id: str, retry: int | None = None) -> int:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T0LOCAL",
            "api_app_id": "A0OPSBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1795766400,
            "event": {
                "type": "app_mention",
                "user": "U0BOB",
                "text": "<@U0OPSBOT> deploy-status checkout",
                "ts": "1795766400.000200",
                "channel": "C0INCIDENT",
                "event_ts": "1795766400.000200",
            },
        }
    ).encode()
    headers = {**sign(body, stack.signing_secret), "Content-Type": "application/json"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return post(stack.target.events_url, SignedRequest(body=body, headers=headers)).status


def test_a_mention_and_slacks_retries_of_it_run_once_and_answer_once_in_the_thread(stack):
    statuses = [mention(stack, "Ev0E2E01"), mention(stack, "Ev0E2E01", retry=1), mention(stack, "Ev0E2E01", retry=2)]

    assert statuses == [200, 200, 200]
    [message] = stack.slack.wait_for_messages(channel="C0INCIDENT", final=True, timeout=15)
    assert message.kind == "chat.postMessage"
    assert message.payload["thread_ts"] == "1795766400.000200"
    assert "Deploy status of `checkout`" in message.text
    # Give the two duplicates time to be delivered and dropped, then check nothing more arrived.
    assert stack.slack.wait_for_messages(channel="C0INCIDENT", after=message.seq, timeout=4) == []


def test_ack_and_worker_log_lines_carry_the_same_correlation_id(stack):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaPowertoolsFormatter())
    loggers = [logging.getLogger("ack_function"), logging.getLogger("worker_function")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        outcome = run_command("/ops-ping", stack.target, timeout=20, emit=lambda _: None)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)

    assert outcome.ok
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line.get("job_id", "").startswith(outcome.job or "-")]
    ack_lines = [line for line in mine if "queued" in line["message"]]
    worker_lines = [line for line in mine if "executed" in line["message"]]
    assert ack_lines and worker_lines
    assert {line["correlation_id"] for line in ack_lines + worker_lines} == {ack_lines[0]["job_id"]}


def test_a_command_that_needs_confirming_is_confirmed_then_runs(stack):
    outcome = run_command("/ops-migrate payment 2024.06.1", stack.target, timeout=30, emit=lambda _: None)

    assert "Run `/ops-migrate payment 2024.06.1` on *prod*?" in outcome.ack_text
    assert outcome.ok, outcome.error
    first = outcome.messages[0]
    assert first.payload["replace_original"] is True and "confirmed by <@U0LOCALDEV>" in first.text
    assert "Migration of `payment`" in outcome.messages[-1].text
