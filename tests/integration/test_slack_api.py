"""The local Slack API: what it answers, what it records, how it renders, and the faults it injects."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from infra.devstack.slack_api import MessageRecord, SlackApiServer

pytestmark = pytest.mark.integration

METADATA = {"event_type": "opsbot_job", "event_payload": {"job_id": "ab" * 16, "final": True}}


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def messages_over_http(slack: SlackApiServer, query: str) -> list[MessageRecord]:
    status, body = http("GET", f"{slack.url}/_messages?{query}")
    assert status == 200
    return [MessageRecord.model_validate(m) for m in body]


def test_post_message_is_answered_like_slack_and_recorded(slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)

    response = client.chat_postMessage(
        channel="C123",
        text="hello",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}],
        metadata=METADATA,
    )

    assert response["ok"] is True and response["channel"] == "C123"
    [record] = slack.messages(channel="C123")
    assert record.kind == "chat.postMessage"
    assert record.ts == response["ts"]
    assert record.payload["blocks"][0]["text"]["text"] == "*hello*"
    assert record.job_id == "ab" * 16 and record.final is True


def test_update_edits_a_posted_message_and_refuses_an_unknown_one(slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    posted = client.chat_postMessage(channel="C1", text="working…")

    updated = client.chat_update(channel="C1", ts=posted["ts"], text="done")
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel="C1", ts="1.000001", text="nope")

    assert updated["ts"] == posted["ts"]
    assert refused.value.response["error"] == "message_not_found"
    assert [(m.kind, m.text) for m in slack.messages(channel="C1")] == [
        ("chat.postMessage", "working…"),
        ("chat.update", "done"),
    ]


def test_form_encoded_call_with_json_fields_is_understood(slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)

    client.api_call(
        "chat.postMessage",
        data={"channel": "C9", "text": "form", "blocks": json.dumps([{"type": "divider"}])},
    )

    [record] = slack.messages(channel="C9")
    assert record.payload["blocks"] == [{"type": "divider"}]


def test_web_api_checks_the_token(slack):
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.api_url).chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-other", base_url=slack.api_url).chat_postMessage(channel="C1", text="x")

    assert missing.value.response["error"] == "not_authed"
    assert wrong.value.response["error"] == "invalid_auth"
    assert slack.messages() == []


def test_auth_test_and_conversations_open(slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)

    assert client.auth_test()["user_id"]
    channel = client.conversations_open(users="U123")["channel"]["id"]

    assert channel.startswith("D")


def test_response_url_accepts_five_uses_then_refuses(slack):
    webhook = WebhookClient(slack.response_url("k1"))

    answers = [webhook.send(text=f"message {i}", response_type="ephemeral") for i in range(6)]

    assert [(a.status_code, a.body) for a in answers] == [(200, "ok")] * 5 + [(404, "used_url")]
    assert [m.text for m in slack.messages(key="k1")] == [f"message {i}" for i in range(5)]


def test_response_url_expires():
    with SlackApiServer(response_url_ttl_s=0.2) as slack:
        url = slack.response_url("late")
        time.sleep(0.3)
        answer = WebhookClient(url).send(text="too late")

    assert (answer.status_code, answer.body) == (404, "expired_url")


def test_response_url_refuses_an_empty_message(slack):
    answer = WebhookClient(slack.response_url("k")).send_dict({"response_type": "ephemeral"})

    assert (answer.status_code, answer.body) == (400, "no_text")


def test_rate_limit_fault_is_retried_by_slack_sdk_and_logged(slack):
    slack.inject_fault("chat.postMessage", 429, times=2, retry_after=0)
    client = WebClient(
        token="xoxb-test", base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
    )

    response = client.chat_postMessage(channel="C1", text="eventually")

    assert response["ok"] is True
    assert [(c.status, c.faulted) for c in slack.calls] == [(429, True), (429, True), (200, False)]
    assert len(slack.messages(channel="C1")) == 1


def test_server_error_fault_reaches_a_client_without_retries(slack):
    slack.inject_fault("chat.postMessage", 500)
    client = WebClient(token="xoxb-test", base_url=slack.api_url)

    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel="C1", text="x")
    second = client.chat_postMessage(channel="C1", text="y")

    assert failed.value.response.status_code == 500
    assert second["ok"] is True
    assert [m.text for m in slack.messages()] == ["y"]


def test_faults_over_http_for_response_urls(slack):
    status, _ = http("POST", f"{slack.url}/_faults", {"target": "response_url", "status": 404, "times": 1})
    webhook = WebhookClient(slack.response_url("gone"))

    first, second = webhook.send(text="a"), webhook.send(text="b")

    assert status == 200
    assert (first.status_code, first.body) == (404, "expired_url")
    assert (second.status_code, second.body) == (200, "ok")


def test_bad_fault_spec_is_refused(slack):
    status, _ = http("POST", f"{slack.url}/_faults", {"status": 429})

    assert status == 400


def test_messages_endpoint_filters_by_key_channel_job_and_after(slack):
    WebhookClient(slack.response_url("key-a")).send(text="a1")
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    client.chat_postMessage(channel="C7", text="c1", metadata=METADATA)
    WebhookClient(slack.response_url("key-b")).send(text="b1")

    assert [m.text for m in messages_over_http(slack, "key=key-a")] == ["a1"]
    assert [m.text for m in messages_over_http(slack, "channel=C7")] == ["c1"]
    assert [m.text for m in messages_over_http(slack, "job=abababab")] == ["c1"]
    assert [m.text for m in messages_over_http(slack, "key=key-a&job=abababab")] == ["a1", "c1"]
    assert [m.text for m in messages_over_http(slack, "after=1")] == ["c1", "b1"]


def test_messages_endpoint_long_polls_until_a_message_arrives(slack):
    url = slack.response_url("later")
    threading.Timer(0.2, lambda: WebhookClient(url).send(text="arrived")).start()

    found = messages_over_http(slack, "key=later&wait=5")

    assert [m.text for m in found] == ["arrived"]


def test_echo_prints_each_message_rendered():
    out = io.StringIO()
    with SlackApiServer(echo=True, out=out) as slack:
        WebhookClient(slack.response_url("k")).send(
            text="fallback",
            blocks=[
                {"type": "header", "text": {"type": "plain_text", "text": "Deploy"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*payment* is fine"}},
            ],
        )

    printed = out.getvalue()
    assert "response_url k" in printed
    assert "Deploy" in printed and "*payment* is fine" in printed
    assert "fallback" not in printed


def test_reset_forgets_messages_calls_and_faults(slack):
    WebhookClient(slack.response_url("k")).send(text="a")
    slack.inject_fault("chat.update", 500)

    status, _ = http("POST", f"{slack.url}/_reset", {})

    assert status == 200
    assert slack.messages() == [] and slack.calls == []
    assert http("GET", f"{slack.url}/_faults")[1] == []
