"""Finding the worker's own message again in a channel, after a chat.postMessage whose answer was lost.

chat.postMessage takes no client token: a post Slack made but answered 5xx (or a timeout after sending) is known
only by looking. The poster writes an intent before posting (the alarm feed's record, a job reply's intent) and
marks the message (its first block's id, or its metadata); a retry that finds the intent looks for the mark in the
channel's recent messages (or the thread's replies) before posting again. Slack limits conversations.history and
conversations.replies to about one call a minute and a few messages a page for apps not on the Marketplace: only
a retry after a failed post looks, never a first post. One page is read, newest first: a message not on it may
be further back (`Lookup.unsure`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: How many recent messages a look asks for (Slack may answer fewer: 15 for apps not on the Marketplace).
HISTORY_LIMIT = 100
#: Refusals of conversations.history / .replies that mean "cannot read this channel" (not "try later"). A rate
#: limit or a 5xx raises: the caller's retry (or its deferral) looks again.
UNREADABLE = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "is_archived", "thread_not_found"})
#: The key of a job message's mark in its metadata's `event_payload`.
MARK_KEY = "post"


@dataclass(frozen=True)
class Lookup:
    """What a look found: the message's ts; or nothing there (`unsure` when it may lie past the page read); or
    Slack's refusal to let the channel be read (`unreadable`)."""

    ts: str | None = None
    unreadable: str | None = None
    unsure: bool = False

    @property
    def certain_absent(self) -> bool:
        """Nothing found, and the whole window since the intent was read: posting adds no second copy."""
        return self.ts is None and self.unreadable is None and not self.unsure


def first_block_is(marker: str) -> Callable[[dict[str, Any]], bool]:
    """A message whose first block has `marker` as its block id (the alarm feed's messages)."""

    def matches(message: dict[str, Any]) -> bool:
        blocks = message.get("blocks") or []
        return bool(blocks) and isinstance(blocks[0], dict) and blocks[0].get("block_id") == marker

    return matches


def metadata_marks(marker: str) -> Callable[[dict[str, Any]], bool]:
    """A message whose metadata's payload carries `marker` under `MARK_KEY` (a job's messages: the mark survives
    the plain-text fallback, which has no blocks)."""

    def matches(message: dict[str, Any]) -> bool:
        metadata = message.get("metadata")
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        return isinstance(payload, dict) and payload.get(MARK_KEY) == marker

    return matches


def find_own(
    slack: Any,
    channel: str,
    is_ours: Callable[[dict[str, Any]], bool],
    *,
    thread_ts: str | None = None,
) -> Lookup:
    """Look for the message `is_ours` among the channel's recent messages (the thread's replies with `thread_ts`),
    one page, newest first. A refusal to read (`UNREADABLE`) is returned, logged; a rate
    limit or Slack's own trouble raises `SlackApiError`."""
    from slack_sdk.errors import SlackApiError

    window: dict[str, Any] = {"limit": HISTORY_LIMIT, "include_all_metadata": True}
    try:
        if thread_ts:
            page = slack.conversations_replies(channel=channel, ts=thread_ts, **window)
        else:
            page = slack.conversations_history(channel=channel, **window)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in UNREADABLE:
            raise
        logger.warning("cannot read %s to find an earlier post (%s)", channel, error)
        return Lookup(unreadable=str(error))
    for message in page.get("messages") or []:
        if isinstance(message, dict) and is_ours(message):
            return Lookup(ts=str(message["ts"]))
    return Lookup(unsure=bool(page.get("has_more")))
