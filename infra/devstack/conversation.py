"""What a Slack client shows for the local stack: channels, messages, ephemerals, threads, edits in place.

A `Conversation` is fed the requests a client sends (slash commands and their acks, clicks, mentions)
and every message the local Slack API accepts (`MessageRecord`), and keeps the messages as a client
would show them. Each change is an event with a sequence number, for the page's server-sent events.

Slack's rules it follows (api.slack.com/interactivity/handling#message_responses): a response_url
message is ephemeral to the user it belongs to unless `response_type` is `in_channel`;
`replace_original` replaces the message the response_url belongs to (the clicked message, or the
last one posted through it) and `delete_original` deletes it; `chat.update` edits a posted message.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.devstack.slack_api import BOT_USER_ID, MessageRecord, key_owner

ChannelKind = Literal["channel", "dm"]


@dataclass(frozen=True)
class DemoUser:
    """A person the page lets you be."""

    id: str
    name: str
    title: str


@dataclass(frozen=True)
class Channel:
    """A channel, or the direct messages between one user and opsbot (`user` set)."""

    id: str
    name: str
    kind: ChannelKind = "channel"
    user: str | None = None


def dm_channel(user_id: str) -> str:
    """The DM channel the local Slack API's `conversations.open` gives for a user (U0ALEX -> D0ALEX)."""
    return f"D{user_id.lstrip('UW')}"


@dataclass
class Message:
    """One message as the page shows it; `visible_to` set: ephemeral, seen by that user alone."""

    id: str
    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    visible_to: str | None = None
    edited: bool = False
    deleted: bool = False
    #: A line the page shows above it (the slash command an ack answers).
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "ts": self.ts,
            "user": self.user,
            "bot": self.user == BOT_USER_ID,
            "text": self.text,
            "blocks": self.blocks,
            "thread_ts": self.thread_ts,
            "visible_to": self.visible_to,
            "edited": self.edited,
            "deleted": self.deleted,
            "note": self.note,
        }


@dataclass
class _Origin:
    """Whom a response_url belongs to, and the message `replace_original` replaces."""

    channel: str
    user: str
    message_id: str
    thread_ts: str | None = None


class Conversation:
    """The state of the local workspace as a client shows it; thread-safe, every change an event."""

    def __init__(self, users: Iterable[DemoUser], channels: Iterable[Channel]) -> None:
        self.users = list(users)
        self._lock = threading.Condition()
        self._channels: dict[str, Channel] = {c.id: c for c in channels}
        for user in self.users:
            self._channels.setdefault(dm_channel(user.id), Channel(dm_channel(user.id), "opsbot", "dm", user.id))
        self._messages: dict[str, Message] = {}
        self._by_ts: dict[tuple[str, str], str] = {}
        self._origins: dict[str, _Origin] = {}
        self._events: list[tuple[int, dict[str, Any]]] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self.closed = False

    # -- reading -----------------------------------------------------------------------------

    @property
    def channels(self) -> list[Channel]:
        with self._lock:
            return list(self._channels.values())

    def messages(self, channel: str | None = None) -> list[Message]:
        """Messages (deleted ones included) in ts order."""
        with self._lock:
            found = [m for m in self._messages.values() if channel is None or m.channel == channel]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, message_id: str) -> Message | None:
        with self._lock:
            return self._messages.get(message_id)

    def events_after(self, seq: int, *, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        """Events with a sequence number above `seq`, waiting up to `timeout` s for one (empty if none)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [e for e in self._events if e[0] > seq]
                remaining = deadline - time.monotonic()
                if found or remaining <= 0 or self.closed:
                    return found
                self._lock.wait(remaining)

    def close(self) -> None:
        """Wake every waiting reader for good (the server is stopping)."""
        with self._lock:
            self.closed = True
            self._lock.notify_all()

    # -- what the client sends ---------------------------------------------------------------

    def next_ts(self) -> str:
        with self._lock:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def user_message(self, channel: str, user: str, text: str, *, ts: str, thread_ts: str | None = None) -> Message:
        """A message a person wrote (a mention of opsbot)."""
        with self._lock:
            known = self._by_ts.get((channel, ts))
            if known is not None:
                return self._messages[known]
            self._learn_channel(channel)
            return self._add(Message(self._new_id(), channel, ts, user, text=text, thread_ts=thread_ts))

    def command_sent(self, key: str, channel: str, user: str) -> str:
        """A slash command whose response_url has this key; returns the id its ack will have."""
        with self._lock:
            self._learn_channel(channel)
            message_id = self._new_id()
            self._origins[key] = _Origin(channel, user, message_id)
            return message_id

    def command_acked(self, message_id: str, key: str, command_line: str, ack: Mapping[str, Any]) -> Message | None:
        """The ack's body (text and blocks), shown to the requester alone like Slack does; None if empty."""
        text, blocks = str(ack.get("text") or ""), _blocks(ack)
        if not text and not blocks:
            return None
        with self._lock:
            origin = self._origins.get(key)
            if message_id in self._messages or origin is None:  # already replaced through its response_url
                return self._messages.get(message_id)
            visible_to = None if ack.get("response_type") == "in_channel" else origin.user
            message = Message(
                message_id,
                origin.channel,
                self.next_ts(),
                BOT_USER_ID,
                text=text,
                blocks=blocks,
                visible_to=visible_to,
                note=command_line,
            )
            return self._add(message)

    def failed(self, channel: str, user: str, text: str) -> Message:
        """What Slack shows the sender alone when the app did not answer properly."""
        with self._lock:
            return self._add(Message(self._new_id(), channel, self.next_ts(), "USLACKBOT", text=text, visible_to=user))

    def clicked(self, key: str, message_id: str, user: str) -> None:
        """A click on a message: the click's response_url (this key) belongs to that message."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None:
                self._origins[key] = _Origin(message.channel, user, message_id, message.thread_ts)

    def find_by_ts(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            known = self._by_ts.get((channel, ts))
            return self._messages.get(known) if known else None

    def find_by_button_value(self, value: str) -> Message | None:
        """The newest message with a button carrying this value (a click sent by a client that names no message)."""
        for message in reversed(self.messages()):
            if not message.deleted and value and value in _button_values(message.blocks):
                return message
        return None

    # -- what the local Slack API received ---------------------------------------------------

    def apply(self, record: MessageRecord) -> Message | None:
        """One message the local Slack API accepted, as the client shows it."""
        payload = {k: v for k, v in record.payload.items() if k != "metadata"}
        text, blocks = str(payload.get("text") or ""), _blocks(payload)
        thread_ts = str(payload["thread_ts"]) if payload.get("thread_ts") else None
        with self._lock:
            if record.kind == "response_url":
                return self._response_url(record.key or "", payload, text, blocks)
            channel = record.channel or ""
            self._learn_channel(channel)
            if record.kind == "chat.update":
                known = self._by_ts.get((channel, record.ts or ""))
                if known is None:
                    return None
                return self._replace(self._messages[known], text, blocks)
            visible_to = str(payload.get("user")) if record.kind == "chat.postEphemeral" else None
            ts = record.ts or self.next_ts()
            return self._add(
                Message(self._new_id(), channel, ts, BOT_USER_ID, text, blocks, thread_ts, visible_to=visible_to)
            )

    def _response_url(self, key: str, payload: Mapping[str, Any], text: str, blocks: list[Any]) -> Message | None:
        origin = self._origins.get(key)
        owner = key_owner(key) if origin is None else None
        if owner is not None:  # a request another client sent (`opsbot send`): ephemeral to its user
            user, channel = owner
            self._learn_channel(channel)
            origin = self._origins[key] = _Origin(channel, user, self._new_id())
        elif origin is None:  # a response_url no client of this page sent: shown in the first channel, to all
            first = next(iter(self._channels))
            origin = self._origins[key] = _Origin(first, "", self._new_id())
        original = self._messages.get(origin.message_id)
        if payload.get("delete_original") and original is not None:
            original.deleted = True
            return self._changed(original)
        if payload.get("replace_original") and original is not None:
            return self._replace(original, text, blocks)
        if payload.get("replace_original") and origin.message_id not in self._messages:
            message_id = origin.message_id  # replaces an ack not shown yet (the worker was faster)
        else:
            message_id = self._new_id()
        visible_to = None if payload.get("response_type") == "in_channel" or not origin.user else origin.user
        message = Message(
            message_id,
            origin.channel,
            self.next_ts(),
            BOT_USER_ID,
            text,
            blocks,
            origin.thread_ts,
            visible_to=visible_to,
        )
        origin.message_id = message.id
        return self._add(message)

    # -- internals (lock held) ---------------------------------------------------------------

    def _new_id(self) -> str:
        return f"m{next(self._ids)}"

    def _learn_channel(self, channel: str) -> None:
        if channel and channel not in self._channels:
            if channel.startswith("D"):
                user = f"U{channel[1:]}"
                self._channels[channel] = Channel(channel, "opsbot", "dm", user)
            else:
                self._channels[channel] = Channel(channel, channel.lower())
            self._event({"type": "channel", "channel": vars(self._channels[channel])})

    def _add(self, message: Message) -> Message:
        self._messages[message.id] = message
        self._by_ts[(message.channel, message.ts)] = message.id
        return self._changed(message)

    def _replace(self, message: Message, text: str, blocks: list[Any]) -> Message:
        message.text, message.blocks, message.edited = text, blocks, True
        return self._changed(message)

    def _changed(self, message: Message) -> Message:
        self._event({"type": "message", "message": message.as_json()})
        return message

    def _event(self, event: dict[str, Any]) -> None:
        self._events.append((next(self._seq), event))
        self._lock.notify_all()


def _blocks(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = payload.get("blocks")
    return [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []


def _button_values(blocks: list[dict[str, Any]]) -> set[str]:
    values: set[str] = set()
    for block in blocks:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        accessory = block.get("accessory")
        for element in [*elements, accessory]:
            if isinstance(element, dict) and element.get("type") == "button" and element.get("value"):
                values.add(str(element["value"]))
    return values
