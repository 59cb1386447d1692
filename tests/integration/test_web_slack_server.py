"""The local Slack page's server over real HTTP: what it sends the ingress (signed like Slack), what it streams
to the page (server-sent events), and what it refuses. The ingress here is a recording HTTP server that
verifies Slack's signature with slack_sdk; the browser tests run the whole stack."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from infra.devstack._http import BackgroundServer, Request, Response, json_response, text_response, urlopen
from infra.devstack.client import Target
from infra.devstack.slack_api import SlackApiServer
from infra.devstack.slack_request import SignedRequest, sign
from infra.devstack.web_client import WebSlack

pytestmark = pytest.mark.integration

SECRET = "web-slack-test-secret"
PROMPT = {
    "response_type": "ephemeral",
    "text": "Run it?",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Run it?"}},
        {
            "type": "actions",
            "block_id": "opsbot_confirm",
            "elements": [
                {
                    "type": "button",
                    "action_id": "opsbot_confirm",
                    "text": {"type": "plain_text", "text": "Confirm"},
                    "value": "tok",
                },
                {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [{"text": {"type": "plain_text", "text": "payment"}, "value": "payment"}],
                },
            ],
        },
    ],
}


class RecordingIngress:
    """Answers like the ack: a prompt for slash commands, 200 for clicks and events; 401 on a bad signature."""

    def __init__(self) -> None:
        self.received: list[Request] = []
        self.server = BackgroundServer(self.handle)

    def handle(self, request: Request) -> Response:
        self.received.append(request)
        valid = SignatureVerifier(SECRET).is_valid(
            request.body, request.header("X-Slack-Request-Timestamp"), request.header("X-Slack-Signature")
        )
        if not valid:
            return text_response("invalid signature", 401)
        if request.content_type == "application/x-www-form-urlencoded" and b"command=" in request.body:
            return json_response(PROMPT)
        return text_response("", 200)

    def form(self, index: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.received[index].body.decode()).items()}


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def ingress() -> Iterator[RecordingIngress]:
    recording = RecordingIngress()
    recording.server.start()
    yield recording
    recording.server.stop()


@pytest.fixture
def web(slack: SlackApiServer, ingress: RecordingIngress) -> Iterator[WebSlack]:
    target = Target(events_url=f"{ingress.server.url}/slack/events", slack_url=slack.url, signing_secret=SECRET)
    with WebSlack(slack, target) as server:
        yield server


def api(web: WebSlack, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{web.url}{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def events(web: WebSlack, count: int, last_event_id: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The first `count` server-sent events the page would get."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    found: list[tuple[int, dict[str, Any]]] = []
    with urlopen(urllib.request.Request(f"{web.url}/events", headers=headers), timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        seq = 0
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("data: "):
                found.append((seq, json.loads(line[6:])))
                if len(found) == count:
                    return found
    return found


def test_a_slash_command_from_the_page_is_signed_like_slack_and_its_ack_is_shown_to_the_sender(web, ingress, slack):
    status, answer = api(web, "/api/send", {"user": "U0DANA", "channel": "C0LOCALOPS", "text": "/ops-migrate payment"})

    assert (status, answer) == (200, {"ok": True, "status": 200})
    form = ingress.form()
    assert (form["command"], form["text"], form["user_id"], form["user_name"]) == (
        "/ops-migrate",
        "payment",
        "U0DANA",
        "dana",
    )
    assert (form["channel_id"], form["channel_name"], form["team_id"]) == ("C0LOCALOPS", "ops", "T0LOCAL")
    assert form["response_url"].startswith(f"{slack.url}/response/") and form["trigger_id"]
    [ack] = web.conversation.messages()
    assert (ack.text, ack.visible_to, ack.note) == ("Run it?", "U0DANA", "/ops-migrate payment")


def test_a_click_is_a_signed_block_actions_payload_whose_response_url_replaces_the_clicked_message(web, ingress):
    api(web, "/api/send", {"user": "U0DANA", "channel": "C0LOCALOPS", "text": "/ops-migrate payment"})
    [prompt] = web.conversation.messages()

    status, _ = api(
        web,
        "/api/action",
        {"user": "U0DANA", "message": prompt.id, "action_id": "opsbot_confirm", "block_id": "opsbot_confirm"},
    )

    assert status == 200
    payload = json.loads(ingress.form()["payload"])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0DANA"
    assert payload["actions"][0] | {"action_ts": ""} == {
        "type": "button",
        "action_id": "opsbot_confirm",
        "block_id": "opsbot_confirm",
        "text": {"type": "plain_text", "text": "Confirm"},
        "value": "tok",
        "action_ts": "",
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": prompt.ts,
        "channel_id": "C0LOCALOPS",
        "is_ephemeral": True,
    }
    assert "message" not in payload  # Slack does not send an ephemeral message back
    sent = WebhookClient(payload["response_url"]).send_dict({"text": "confirmed", "replace_original": True})
    assert sent.status_code == 200
    [(_, event)] = [e for e in events(web, 2) if e[1]["message"]["text"] == "confirmed"]
    assert event["message"]["id"] == prompt.id and event["message"]["edited"] is True


def test_a_select_sends_the_chosen_option_and_an_unknown_option_is_refused(web, ingress):
    api(web, "/api/send", {"user": "U0DANA", "channel": "C0LOCALOPS", "text": "/ops-migrate payment"})
    [prompt] = web.conversation.messages()
    sent_before = len(ingress.received)

    refused, answer = api(
        web, "/api/action", {"user": "U0DANA", "message": prompt.id, "action_id": "pick", "selected": "nope"}
    )
    status, _ = api(
        web, "/api/action", {"user": "U0DANA", "message": prompt.id, "action_id": "pick", "selected": "payment"}
    )

    assert refused == 400 and "no option 'nope'" in answer["error"]
    assert status == 200 and len(ingress.received) == sent_before + 1
    action = json.loads(ingress.form()["payload"])["actions"][0]
    assert action["type"] == "static_select" and action["selected_option"]["value"] == "payment"


def test_a_mention_is_escaped_like_slack_does_and_the_message_is_shown(web, ingress):
    status, _ = api(web, "/api/send", {"user": "U0ALEX", "channel": "C0INCIDENT", "text": "@opsbot ping <b>&"})

    assert status == 200
    body = json.loads(ingress.received[-1].body)
    assert body["type"] == "event_callback" and body["event"]["type"] == "app_mention"
    assert body["event"]["text"] == "<@U0OPSBOT> ping &lt;b&gt;&amp;"
    [shown] = web.conversation.messages("C0INCIDENT")
    assert (shown.user, shown.ts, shown.text) == ("U0ALEX", body["event"]["ts"], body["event"]["text"])


def test_the_event_stream_replays_everything_then_only_what_follows_last_event_id(web):
    for text in ("/ops-ping", "/ops-status payment"):
        api(web, "/api/send", {"user": "U0ALEX", "channel": "C0LOCALOPS", "text": text})

    first, second = events(web, 2)
    waiter: list[list[tuple[int, dict[str, Any]]]] = []
    thread = threading.Thread(target=lambda: waiter.append(events(web, 1, last_event_id=second[0])))
    thread.start()
    api(web, "/api/send", {"user": "U0ALEX", "channel": "C0LOCALOPS", "text": "/ops-ping 1"})
    thread.join(10)

    assert [e["message"]["note"] for _, e in (first, second)] == ["/ops-ping", "/ops-status payment"]
    [[(seq, event)]] = waiter
    assert seq > second[0] and event["message"]["note"] == "/ops-ping 1"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Content-Type": "text/plain"}, 403),  # what a form on another site could send
        ({"Origin": "http://evil.example"}, 403),
        ({"Host": "evil.example"}, 403),  # DNS rebinding
    ],
)
def test_requests_not_from_the_page_are_refused_and_nothing_is_sent(web, ingress, headers, expected):
    status, _ = api(web, "/api/send", {"user": "U0ALEX", "channel": "C0LOCALOPS", "text": "/ops-ping"}, headers)

    assert status == expected
    assert ingress.received == [] and web.conversation.messages() == []


def test_bad_input_gets_a_clear_error_and_nothing_is_sent(web, ingress):
    cases = [
        ({"user": "U0NOBODY", "channel": "C0LOCALOPS", "text": "/ops-ping"}, "unknown user 'U0NOBODY'"),
        ({"user": "U0ALEX", "channel": "C0NOWHERE", "text": "/ops-ping"}, "unknown channel 'C0NOWHERE'"),
        ({"user": "U0ALEX", "channel": "C0LOCALOPS", "text": "/"}, "not a slash command"),
        ({"user": "U0ALEX", "channel": "C0LOCALOPS"}, "bad request"),
    ]
    for payload, error in cases:
        status, answer = api(web, "/api/send", payload)
        assert status == 400 and error in answer["error"], (payload, answer)
    assert ingress.received == []


def test_the_tap_forwards_the_signed_bytes_unchanged_and_shows_a_refusal_to_the_sender(web, ingress, slack):
    body = (
        b"command=%2Fops-ping&text=&user_id=U0ALEX&channel_id=C0LOCALOPS&team_id=T0LOCAL"
        b"&response_url=" + f"{slack.url}/response/tapkey".encode()
    )
    good = SignedRequest(body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body, SECRET)})
    bad = SignedRequest(body=body, headers={**good.headers, "X-Slack-Signature": "v0=" + "0" * 64})

    statuses = [_post(web.tap_url, good), _post(web.tap_url, bad)]

    assert statuses == [200, 401]
    assert [r.body for r in ingress.received] == [body, body]
    assert ingress.received[0].header("X-Slack-Signature") == good.headers["X-Slack-Signature"]
    texts = [(m.visible_to, m.text) for m in web.conversation.messages()]
    assert texts == [("U0ALEX", "Run it?"), ("U0ALEX", '`/ops-ping` failed with the error "http_error 401"')]


def test_an_unreachable_ingress_is_a_502_and_dispatch_failed_for_the_sender(slack):
    target = Target(events_url="http://127.0.0.1:9/slack/events", slack_url=slack.url, signing_secret=SECRET)
    with WebSlack(slack, target, ack_timeout=1.0) as web:
        status, answer = api(web, "/api/send", {"user": "U0ALEX", "channel": "C0LOCALOPS", "text": "/ops-ping"})

        assert status == 502 and "no answer from" in answer["error"]
        [shown] = web.conversation.messages()
        assert (shown.visible_to, shown.text) == ("U0ALEX", '`/ops-ping` failed with the error "dispatch_failed"')


def test_the_page_and_its_script_are_served_with_a_content_security_policy(web):
    with urlopen(f"{web.url}/", timeout=5) as page:
        html = page.read().decode()
        policy = page.headers["Content-Security-Policy"]
    with urlopen(f"{web.url}/app.js", timeout=5) as script:
        code = script.read().decode()

    assert '<script src="/app.js"' in html and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "EventSource" in code and "innerHTML" not in code and "insertAdjacentHTML" not in code


def _post(url: str, request: SignedRequest) -> int:
    http_request = urllib.request.Request(url, data=request.body, headers=request.headers, method="POST")
    try:
        with urlopen(http_request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_apps_messages_tab_is_read_only_as_the_manifest_makes_it_in_slack(web, ingress):
    """No message.im is subscribed: a direct message to opsbot would go unread, so the manifest turns the tab's
    composer off, and the page does as Slack does."""
    from infra.cli.manifest import BOT_EVENTS, BOT_SCOPES, build_manifest

    app_home = build_manifest("https://example.com/slack/events")["features"]["app_home"]
    assert app_home["messages_tab_read_only_enabled"] is True
    assert "message.im" not in BOT_EVENTS and "im:history" not in BOT_SCOPES

    for text in ("hello?", "@opsbot ops-ping", "/ops-ping"):
        status, answer = api(web, "/api/send", {"user": "U0ALEX", "channel": "D0ALEX", "text": text})
        assert status == 400 and "Sending messages to this app has been turned off" in answer["error"], answer
    assert ingress.received == []
    assert not [m for m in web.conversation.messages() if m.channel == "D0ALEX"]
    with urlopen(f"{web.url}/api/state", timeout=10) as response:
        assert "turned off" in json.loads(response.read())["dm_read_only"]
