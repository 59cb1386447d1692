"""The local Slack API refuses what Slack refuses: scopes, channels and membership, rate limits, trigger_id."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from infra.cli.manifest import BOT_SCOPES, build_socket_mode_manifest
from infra.devstack.slack_api import SlackApiServer
from infra.devstack.slack_limits import POST_BURST
from infra.devstack.slack_request import random_trigger_id
from infra.devstack.slack_workspace import SlackChannel, Workspace
from shared.blockkit import SlackMessage

pytestmark = pytest.mark.integration


def refused(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as failed:
        call()
    return failed.value


@pytest.fixture
def workspace() -> Workspace:
    return Workspace.of(
        [
            SlackChannel("C0PUB", "ops"),
            SlackChannel("C0OUT", "outside", bot_member=False),
            SlackChannel("C0PRIV", "secret", private=True, members={"U0A"}),
            SlackChannel("C0HIDDEN", "hidden", private=True, bot_member=False),
            SlackChannel("C0OLD", "old", archived=True),
        ]
    )


@pytest.fixture
def server(workspace):
    with SlackApiServer(token="xoxb-t", workspace=workspace) as server:
        yield server


@pytest.fixture
def client(server) -> WebClient:
    return WebClient(token="xoxb-t", base_url=server.api_url)  # no retry handlers: every answer is seen


def test_the_scopes_are_those_the_manifest_requests():
    assert Workspace().scopes == frozenset(build_socket_mode_manifest()["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "chat:write.public"} <= set(BOT_SCOPES)


def test_a_method_without_its_scope_answers_missing_scope_with_needed_and_provided():
    narrow = Workspace.of([SlackChannel("C0PUB", "ops")], scopes=["commands", "chat:write"])
    with SlackApiServer(token="xoxb-t", workspace=narrow) as server:
        client = WebClient(token="xoxb-t", base_url=server.api_url)
        error = refused(lambda: client.usergroups_users_list(usergroup="S1"))
        history = refused(lambda: client.conversations_history(channel="C0PUB"))

    assert error.response.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": "usergroups:read",
        "provided": "chat:write,commands",
    }
    assert history.response["needed"] == "channels:history"


def test_channels_answer_as_slack_does(client, server):
    assert client.chat_postMessage(channel="C0PUB", text="x")["ok"]
    assert client.chat_postMessage(channel="C0PRIV", text="x")["ok"]  # private, the bot invited
    assert refused(lambda: client.chat_postMessage(channel="C0HIDDEN", text="x")).response["error"] == (
        "channel_not_found"
    )
    assert refused(lambda: client.chat_postMessage(channel="C0NONE", text="x")).response["error"] == (
        "channel_not_found"
    )
    assert refused(lambda: client.chat_postMessage(channel="C0OLD", text="x")).response["error"] == "is_archived"
    # chat:write.public: a public channel the bot was not invited to takes its posts, not its history
    assert client.chat_postMessage(channel="C0OUT", text="x")["ok"]
    assert refused(lambda: client.conversations_history(channel="C0OUT")).response["error"] == "not_in_channel"
    assert refused(lambda: client.conversations_history(channel="C0HIDDEN")).response["error"] == ("channel_not_found")
    assert (
        refused(lambda: client.chat_postEphemeral(channel="C0PRIV", user="U0B", text="x")).response["error"]
        == "user_not_in_channel"
    )
    assert [m.channel for m in server.messages()] == ["C0PUB", "C0PRIV", "C0OUT"]


def test_without_chat_write_public_a_channel_the_bot_is_not_in_answers_not_in_channel(workspace):
    workspace.scopes = workspace.scopes - {"chat:write.public"}
    with SlackApiServer(token="xoxb-t", workspace=workspace) as server:
        client = WebClient(token="xoxb-t", base_url=server.api_url)
        error = refused(lambda: client.chat_postMessage(channel="C0OUT", text="x"))
        workspace.set_bot_member("C0OUT", True)  # /invite @opsbot
        posted = client.chat_postMessage(channel="C0OUT", text="y")

    assert error.response["error"] == "not_in_channel"
    assert posted["ok"] and [m.text for m in server.messages()] == ["y"]


def test_post_message_is_limited_per_channel_with_a_short_burst(client, server):
    for n in range(POST_BURST):
        client.chat_postMessage(channel="C0PUB", text=f"burst {n}")
    limited = refused(lambda: client.chat_postMessage(channel="C0PUB", text="one too many"))
    other_channel = client.chat_postMessage(channel="C0PRIV", text="elsewhere")

    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert int(limited.response.headers["Retry-After"]) >= 1
    assert other_channel["ok"]
    assert "one too many" not in [m.text for m in server.messages()]


def test_tiers_limit_updates_and_history(client):
    posted = client.chat_postMessage(channel="C0PUB", text="x")
    statuses = []
    for _ in range(12):  # Tier 3 (~50/min): a burst of a few, then 429
        try:
            client.chat_update(channel="C0PUB", ts=posted["ts"], text="y")
            statuses.append(200)
        except SlackApiError as exc:
            statuses.append(exc.response.status_code)
    first = client.conversations_history(channel="C0PUB", limit=100)
    second = refused(lambda: client.conversations_history(channel="C0PUB"))

    assert 200 in statuses and 429 in statuses
    assert len(first["messages"]) <= 15  # a non-Marketplace app's page
    assert second.response.status_code == 429 and int(second.response.headers["Retry-After"]) > 1


def test_a_trigger_id_opens_a_modal_for_three_seconds(client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}
    fresh = client.views_open(trigger_id=random_trigger_id(), view=view)
    stale = f"{int((time.time() - 4) * 1000)}.1.ab"
    expired = refused(lambda: client.views_open(trigger_id=stale, view=view))
    invalid = refused(lambda: client.views_open(trigger_id="nope", view=view))

    assert fresh["ok"]
    assert expired.response["error"] == "expired_trigger_id"
    assert invalid.response["error"] == "invalid_trigger_id"


def test_lenient_serves_everything_and_is_switchable_over_http(client, server):
    request = urllib.request.Request(
        f"{server.url}/_strict", data=json.dumps({"strict": False}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())["strict"] is False

    assert client.chat_postMessage(channel="C0HIDDEN", text="x")["ok"]
    for _ in range(POST_BURST + 2):
        client.chat_postMessage(channel="C0PUB", text="x")


def _button(label: str = "Go", value: str = "v") -> dict:
    return {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": label}, "value": value}


def _section(text: str = "x") -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


#: One of each Block Kit limit broken (platform-facts.md), each a message Slack refuses whole.
PAST_A_LIMIT = {
    "51 blocks": [_section()] * 51,
    "section text 3,001": [_section("x" * 3001)],
    "11 fields": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    "11 context elements": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
    "header 151": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "26 actions": [{"type": "actions", "elements": [_button()] * 26}],
    "button label 76": [{"type": "actions", "elements": [_button("b" * 76)]}],
    "button value 2,001": [{"type": "actions", "elements": [_button(value="v" * 2001)]}],
}


@pytest.mark.parametrize("blocks", list(PAST_A_LIMIT.values()), ids=list(PAST_A_LIMIT))
def test_blocks_past_a_block_kit_limit_are_refused_whole_by_the_web_api_and_a_response_url(client, server, blocks):
    error = refused(lambda: client.chat_postMessage(channel="C0PUB", text="t", blocks=blocks))
    request = urllib.request.Request(
        server.response_url(),
        data=json.dumps({"text": "t", "blocks": blocks}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)

    assert error.response["error"] == "invalid_blocks"
    assert answer.value.code == 400 and answer.value.read() == b"invalid_blocks"
    assert not server.messages()  # refused whole: nothing shown


#: A button's value is opsbot's own token, never cut: `blockkit.button` refuses one past 2,000 instead.
FITTED = {name: blocks for name, blocks in PAST_A_LIMIT.items() if name != "button value 2,001"}


@pytest.mark.parametrize("blocks", list(FITTED.values()), ids=list(FITTED))
def test_the_same_blocks_fitted_by_the_kernel_are_shown(client, server, blocks):
    message = SlackMessage(text="t", blocks=blocks)

    assert client.chat_postMessage(channel="C0PUB", text=message.text, blocks=message.blocks)["ok"]


def test_a_threads_replies_are_read_by_conversations_replies_not_in_the_channels_history(client):
    """Slack's conversations.history lists a channel's messages, not the replies in their threads (those are
    conversations.replies, under the same history scopes): where a retry looks for a threaded job's answer."""
    parent = client.chat_postMessage(channel="C0PUB", text="parent")["ts"]
    reply = client.chat_postMessage(channel="C0PUB", text="reply", thread_ts=parent)["ts"]

    history = client.conversations_history(channel="C0PUB")
    replies = client.conversations_replies(channel="C0PUB", ts=parent)

    assert [m["ts"] for m in history["messages"]] == [parent]
    assert sorted(m["ts"] for m in replies["messages"]) == sorted([parent, reply])
    assert refused(lambda: client.conversations_replies(channel="C0OUT", ts=parent)).response["error"] == (
        "not_in_channel"
    )
