"""The replier's last line of defence, against the local Slack API over HTTP: when Slack refuses a message's
blocks (`invalid_blocks`, `msg_too_long`, `invalid_arguments`), the same message goes again as plain text that
says what happened, so the requester is never left without an answer."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient

from shared.jobs import ReplyTarget, Requester, utcnow
from worker_function import job_messages
from worker_function.operations import audit as audit_module
from worker_function.reply import SlackReplier

pytestmark = pytest.mark.integration


def target(slack, *, response_url: bool = True) -> ReplyTarget:
    return ReplyTarget(
        job_id="fa11bac4" * 4,
        command="/ops-audit",
        text="payment",
        requester=Requester(user_id="U0ALICE", team_id="T0001", channel_id="C0OPS"),
        response_url=slack.response_url("fa11bac4" * 4) if response_url else None,
        issued_at=utcnow(),
    )


def replier(slack) -> SlackReplier:
    return SlackReplier(WebClient(token="xoxb-test", base_url=slack.api_url), local_mode=True, max_retries=0)


MESSAGE = audit_module.audit_history(
    "payment",
    [("01-01 00:00:00", "request", "/ops-restart payment", "U0ALICE", "C0OPS", "abcdef12", "x" * 100)] * 3,
    "fa11bac4",
)


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_too_long", "invalid_arguments"])
def test_a_response_url_refusing_the_blocks_gets_the_plain_text_fallback(slack, error):
    slack.inject_fault("response_url", 400, body=error)

    route = replier(slack).send(target(slack), MESSAGE)

    assert route == "response_url"
    [message] = slack.messages(key="fa11bac4" * 4)
    assert "Slack could not show this message as built" in message.text and error in message.text
    assert "Recent history of `payment`" in message.text and not message.payload.get("blocks")


def test_chat_post_message_refusing_the_blocks_gets_the_plain_text_fallback(slack):
    slack.inject_fault("chat.postMessage", 200, body=json.dumps({"ok": False, "error": "invalid_blocks"}))

    route = replier(slack).send(target(slack, response_url=False), MESSAGE)

    assert route == "channel"
    [message] = slack.messages(channel="C0OPS")
    assert "invalid_blocks" in message.text and not message.payload.get("blocks")
    assert [c.path for c in slack.calls] == ["/api/chat.postMessage", "/api/chat.postMessage"]


def test_chat_update_refusing_the_blocks_gets_the_plain_text_fallback(slack):
    job = target(slack, response_url=False)
    handle = replier(slack).publish(job, job_messages.progress("working"), None)
    slack.inject_fault("chat.update", 200, body=json.dumps({"ok": False, "error": "msg_too_long"}))

    replier(slack).publish(job, MESSAGE, handle)

    [update] = [m for m in slack.messages(channel="C0OPS") if m.kind == "chat.update"]
    assert "msg_too_long" in update.text and "Recent history" in update.text


def test_another_error_is_not_taken_for_a_layout_problem(slack):
    slack.inject_fault("response_url", 404, body="expired_url")

    route = replier(slack).send(target(slack), MESSAGE)

    assert route == "channel"  # the usual fallback to chat.postMessage, with its blocks
    [message] = slack.messages(channel="C0OPS")
    assert message.payload.get("blocks") and "could not show" not in message.text
