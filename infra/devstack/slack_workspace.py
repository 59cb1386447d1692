"""The workspace the local Slack API answers from: channels (public and private, archived or not), who is in
them (the bot included), users, user groups, and the scopes the app was granted (those `opsbot manifest`
requests). `Workspace.refusal` says what Slack would answer a Web API call instead of serving it.

Slack's rules followed (docs.slack.dev reference pages of each method and scope):
- a method whose scope the token lacks answers `missing_scope`, with `needed` and `provided` (comma-separated);
- `chat:write` posts only where the bot is a member (`not_in_channel`); `chat:write.public` adds public channels
  it was not invited to; a private channel it is not in is invisible to it (`channel_not_found`); an archived
  channel answers `is_archived`;
- `conversations.history` needs `channels:history` (public), `groups:history` (private) or `im:history` (a DM),
  and the bot in the channel (`not_in_channel`; a private one it is not in: `channel_not_found`);
- `chat.postEphemeral` to a user who is not in the channel answers `user_not_in_channel`;
- `usergroups.users.list` needs `usergroups:read`, `conversations.open` needs `im:write`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.cli.manifest import BOT_SCOPES

#: The scope each Web API method opsbot calls needs (a method not listed needs none beyond the token:
#: auth.test, views.publish and views.open take the bot token as it is).
METHOD_SCOPES: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "usergroups.users.list": "usergroups:read",
}
#: conversations.history (and .replies) needs the history scope of the channel's kind.
HISTORY_SCOPES = {"public": "channels:history", "private": "groups:history", "im": "im:history"}
#: Methods that post in (or edit a message of) a channel: the channel rules of chat:write apply.
POSTING_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})


@dataclass
class SlackChannel:
    """A channel of the workspace. `members` None: everyone in the workspace (like #general)."""

    id: str
    name: str
    private: bool = False
    bot_member: bool = True
    archived: bool = False
    members: set[str] | None = None

    @property
    def kind(self) -> str:
        if self.id.startswith("D"):
            return "im"
        return "private" if self.private else "public"

    def has_member(self, user: str) -> bool:
        return self.members is None or user in self.members


@dataclass
class Workspace:
    """Channels by id, users by id, user groups by id, and the bot token's scopes."""

    channels: dict[str, SlackChannel] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset(BOT_SCOPES)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        channels: Iterable[SlackChannel],
        *,
        users: Mapping[str, str] | None = None,
        usergroups: Mapping[str, list[str]] | None = None,
        scopes: Iterable[str] = BOT_SCOPES,
    ) -> Workspace:
        return cls(
            channels={c.id: c for c in channels},
            users=dict(users or {}),
            usergroups={k: list(v) for k, v in (usergroups or {}).items()},
            scopes=frozenset(scopes),
        )

    # -- changes (tests and the local stack) ------------------------------------------------------

    def add_channel(self, channel: SlackChannel) -> SlackChannel:
        with self._lock:
            self.channels[channel.id] = channel
        return channel

    def set_bot_member(self, channel: str, member: bool) -> None:
        """Invite the bot to a channel (`/invite @opsbot`) or remove it."""
        with self._lock:
            self.channels[channel].bot_member = member

    def archive(self, channel: str) -> None:
        with self._lock:
            self.channels[channel].archived = True

    def open_dm(self, user: str) -> SlackChannel:
        """conversations.open: the DM between the bot and `user` (U0ALEX -> D0ALEX)."""
        dm_id = f"D{user.lstrip('UW')}"
        with self._lock:
            found = self.channels.get(dm_id)
            if found is None:
                found = self.channels[dm_id] = SlackChannel(dm_id, user, private=True, members={user})
            return found

    # -- Slack's answers ------------------------------------------------------------------------

    def refusal(self, method: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
        """The error body Slack answers this call with, or None when it would be served."""
        needed = METHOD_SCOPES.get(method)
        if needed is not None and needed not in self.scopes:
            return self._missing(needed)
        if method in ("conversations.history", "conversations.replies"):
            return self._history_refusal(str(args.get("channel") or ""))
        if method in POSTING_METHODS:
            return self._post_refusal(method, str(args.get("channel") or ""), str(args.get("user") or ""))
        return None

    def _missing(self, needed: str) -> dict[str, Any]:
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(self.scopes))}

    def _channel(self, channel: str) -> SlackChannel | None:
        if channel.startswith("D") and len(channel) > 1:  # the app's DM with a user (its Messages tab)
            return self.open_dm("U" + channel[1:])
        with self._lock:
            found = self.channels.get(channel)
        if found is None or (found.private and not found.bot_member):
            return None  # a private channel the bot is not in is invisible to it
        return found

    def _post_refusal(self, method: str, channel_id: str, user: str) -> dict[str, Any] | None:
        channel = self._channel(channel_id)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.bot_member and not (channel.kind == "public" and "chat:write.public" in self.scopes):
            return {"ok": False, "error": "not_in_channel"}
        if method == "chat.postEphemeral" and not channel.has_member(user):
            return {"ok": False, "error": "user_not_in_channel"}
        return None

    def _history_refusal(self, channel_id: str) -> dict[str, Any] | None:
        channel = self._channel(channel_id)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        needed = HISTORY_SCOPES[channel.kind]
        if needed not in self.scopes:
            return self._missing(needed)
        if not channel.bot_member:
            return {"ok": False, "error": "not_in_channel"}
        return None
