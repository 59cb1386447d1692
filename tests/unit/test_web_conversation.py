"""The local Slack page's model: what a client shows for acks, response_url messages, edits, ephemerals, threads."""

from __future__ import annotations

import itertools
from typing import Any

from infra.devstack.conversation import Channel, Conversation, DemoUser, dm_channel
from infra.devstack.slack_api import BOT_USER_ID, MessageRecord, owned_key

_seq = itertools.count(1)


def conversation() -> Conversation:
    return Conversation(
        [DemoUser("U0ALEX", "alex", "dev"), DemoUser("U0DANA", "dana", "sre")],
        [Channel("C0OPS", "ops"), Channel("C0APPROVALS", "approvals")],
    )


def record(kind: Any, payload: dict[str, Any], **where: Any) -> MessageRecord:
    return MessageRecord(seq=next(_seq), kind=kind, payload=payload, received_at=0.0, **where)


def section(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def test_a_slash_commands_ack_is_shown_to_the_requester_alone_with_the_command_above_it():
    chat = conversation()
    ack_id = chat.command_sent("k1", "C0OPS", "U0ALEX")

    ack = chat.command_acked(ack_id, "k1", "/ops-ping", {"text": "queued", "blocks": section("queued")})

    assert ack is not None
    assert (ack.channel, ack.visible_to, ack.note, ack.user) == ("C0OPS", "U0ALEX", "/ops-ping", BOT_USER_ID)


def test_an_empty_ack_shows_nothing():
    chat = conversation()
    ack_id = chat.command_sent("k1", "C0OPS", "U0ALEX")

    assert chat.command_acked(ack_id, "k1", "/ops-ping", {}) is None
    assert chat.messages() == []


def test_response_url_messages_are_ephemeral_unless_in_channel_and_replace_original_edits_the_last_one():
    chat = conversation()
    ack_id = chat.command_sent("k1", "C0OPS", "U0ALEX")
    chat.command_acked(ack_id, "k1", "/ops-regression smoke", {"text": "queued"})

    progress = chat.apply(record("response_url", {"text": "started", "replace_original": False}, key="k1"))
    final = chat.apply(
        record("response_url", {"text": "passed", "replace_original": True, "response_type": "in_channel"}, key="k1")
    )

    assert progress is not None and final is progress  # replaced in place, not a new message
    assert (final.text, final.edited, final.visible_to) == ("passed", True, "U0ALEX")
    assert [m.text for m in chat.messages("C0OPS")] == ["queued", "passed"]
    shared = chat.apply(record("response_url", {"text": "to all", "response_type": "in_channel"}, key="k1"))
    assert shared is not None and shared.visible_to is None


def test_a_click_s_response_url_replaces_or_deletes_the_clicked_message():
    chat = conversation()
    ack_id = chat.command_sent("k1", "C0OPS", "U0DANA")
    prompt = chat.command_acked(ack_id, "k1", "/ops-migrate payment", {"text": "Run it?"})
    assert prompt is not None
    chat.clicked("click1", prompt.id, "U0DANA")

    chat.apply(record("response_url", {"text": "confirmed", "replace_original": True}, key="click1"))
    assert (prompt.text, prompt.edited) == ("confirmed", True)

    chat.apply(record("response_url", {"delete_original": True, "text": "x"}, key="click1"))
    assert prompt.deleted


def test_a_replace_that_arrives_before_the_ack_is_not_overwritten_by_the_ack():
    chat = conversation()
    ack_id = chat.command_sent("k1", "C0OPS", "U0ALEX")
    chat.apply(record("response_url", {"text": "done", "replace_original": True}, key="k1"))

    chat.command_acked(ack_id, "k1", "/ops-ping", {"text": "queued"})

    assert [m.text for m in chat.messages()] == ["done"]


def test_chat_update_edits_the_posted_message_and_threads_and_ephemerals_keep_their_place():
    chat = conversation()
    mention = chat.user_message("C0OPS", "U0ALEX", "<@U0OPSBOT> ping", ts="100.000001")
    posted = chat.apply(
        record("chat.postMessage", {"text": "asks", "thread_ts": "100.000001"}, channel="C0OPS", ts="101.0")
    )
    chat.apply(record("chat.update", {"text": "approved", "ts": "101.0"}, channel="C0OPS", ts="101.0"))
    alone = chat.apply(record("chat.postEphemeral", {"text": "not you", "user": "U0DANA"}, channel="C0APPROVALS"))

    assert posted is not None and (posted.text, posted.edited, posted.thread_ts) == ("approved", True, mention.ts)
    assert alone is not None and alone.visible_to == "U0DANA"
    assert chat.apply(record("chat.update", {"text": "?"}, channel="C0OPS", ts="999.0")) is None


def test_dms_and_unknown_channels_appear_and_every_change_is_an_event():
    chat = conversation()
    assert dm_channel("U0ALEX") in {c.id for c in chat.channels}

    chat.apply(record("chat.postMessage", {"text": "hi"}, channel="C0NEW", ts="1.0"))
    chat.apply(record("chat.postMessage", {"text": "dm"}, channel="D0EVE", ts="2.0"))

    kinds = {c.id: (c.kind, c.user) for c in chat.channels}
    assert kinds["C0NEW"] == ("channel", None) and kinds["D0EVE"] == ("dm", "U0EVE")
    events = [e for _, e in chat.events_after(0, timeout=0)]
    assert [e["type"] for e in events] == ["channel", "message", "channel", "message"]
    assert chat.events_after(len(events), timeout=0) == []


def test_a_response_url_no_client_sent_is_shown_in_the_first_channel_to_everyone():
    chat = conversation()

    shown = chat.apply(record("response_url", {"text": "pong"}, key="unknown"))

    assert shown is not None and (shown.channel, shown.visible_to) == ("C0OPS", None)


def test_answers_to_another_client_s_requests_are_ephemeral_to_their_user_alone():
    """`opsbot send` (local-dev) and a scripted user (alex) post straight to the ingress: the page never saw the
    request, but the response_url says whose it is, so dana does not see their ephemerals."""
    chat = conversation()

    mine = chat.apply(record("response_url", {"text": "pong"}, key=owned_key("U0LOCALDEV", "C0OPS")))
    alex = chat.apply(record("response_url", {"text": "queued"}, key=owned_key("U0ALEX", "C0APPROVALS")))
    shared = chat.apply(
        record("response_url", {"text": "done", "response_type": "in_channel"}, key=owned_key("U0ALEX", "C0OPS"))
    )

    assert mine is not None and (mine.channel, mine.visible_to) == ("C0OPS", "U0LOCALDEV")
    assert alex is not None and (alex.channel, alex.visible_to) == ("C0APPROVALS", "U0ALEX")
    assert shared is not None and shared.visible_to is None
    seen_by_dana = [m.text for m in chat.messages() if m.visible_to in (None, "U0DANA")]
    assert seen_by_dana == ["done"]


def test_a_click_without_a_message_finds_the_message_by_its_button_value():
    chat = conversation()
    buttons = [{"type": "actions", "elements": [{"type": "button", "action_id": "opsbot_confirm", "value": "tok"}]}]
    ack_id = chat.command_sent("k1", "C0OPS", "U0DANA")
    prompt = chat.command_acked(ack_id, "k1", "/ops-migrate payment", {"text": "Run?", "blocks": buttons})

    assert chat.find_by_button_value("tok") is prompt
    assert chat.find_by_button_value("other") is None


def test_a_command_or_a_mention_from_a_channel_the_page_does_not_list_adds_it():
    chat = conversation()

    chat.command_sent("k1", "C0ELSEWHERE", "U0ALEX")
    chat.user_message("C0THIRD", "U0ALEX", "<@U0OPSBOT> ping", ts="5.0")

    assert {"C0ELSEWHERE", "C0THIRD"} <= {c.id for c in chat.channels}
