"""Slack's Web API rate limits, as the local Slack API enforces them (docs.slack.dev "Rate limits").

- `chat.postMessage`: about one message per second per channel, short bursts allowed (`POST_BURST`);
- the tiers, per method and workspace: Tier 2 ~20/min, Tier 3 ~50/min, Tier 4 ~100/min, with bursts;
  `chat.update` Tier 3, `views.publish` Tier 4, `usergroups.users.list` Tier 2;
- `conversations.history` for an app not approved for the Slack Marketplace (new apps since May 29 2025,
  existing installs since September 2 2025): one request a minute, at most 15 messages a page.

Beyond a limit Slack answers HTTP 429 with `{"ok": false, "error": "ratelimited"}` and `Retry-After` (whole
seconds). Each limit is a token bucket: `rate` requests a second refill it, `burst` is its size.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Requests a minute of each Web API tier.
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
#: The tier of each method opsbot calls that Slack limits by tier (auth.test and apps.connections.open are
#: not limited here: opsbot calls them once per client).
METHOD_TIERS = {
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "conversations.open": 3,
    "usergroups.users.list": 2,
    "views.publish": 4,
    "views.open": 4,
}
#: chat.postMessage: one a second per channel, and this many at once after a quiet spell.
POST_PER_SECOND = 1.0
POST_BURST = 3
#: conversations.history (and .replies) for an app not on the Slack Marketplace.
HISTORY_PER_MINUTE = 1
HISTORY_MAX_LIMIT = 15


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """Take one token: 0 when granted, else the seconds until one is there (nothing taken)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimits:
    """Whether Slack would serve a call now; `take(method, channel)` answers Retry-After seconds or None."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, marketplace: bool = False, enabled: bool = True
    ) -> None:
        #: False: nothing is limited (a test that replays hours of traffic in seconds, the fault harness).
        self.enabled = enabled
        self._clock = clock
        self._marketplace = marketplace
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()

    def _limit(self, method: str) -> tuple[float, float] | None:
        """(requests a second, burst) of a method, or None when it is not limited."""
        if method == "chat.postMessage":
            return POST_PER_SECOND, POST_BURST
        if method in ("conversations.history", "conversations.replies"):
            tier = TIER_PER_MINUTE[3] if self._marketplace else HISTORY_PER_MINUTE
            return tier / 60, 1 if not self._marketplace else tier / 10
        tier_of = METHOD_TIERS.get(method)
        if tier_of is None:
            return None
        per_minute = TIER_PER_MINUTE[tier_of]
        return per_minute / 60, max(1.0, per_minute / 10)

    def history_page(self, limit: int) -> int:
        """How many messages a conversations.history page may hold."""
        return limit if self._marketplace else min(limit, HISTORY_MAX_LIMIT)

    def take(self, method: str, channel: str = "") -> int | None:
        """None: served. Otherwise the Retry-After (whole seconds, at least 1) of the 429 Slack answers."""
        limit = self._limit(method) if self.enabled else None
        if limit is None:
            return None
        rate, burst = limit
        key = (method, channel if method == "chat.postMessage" else "")
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(rate, burst, burst, now)
            wait = bucket.take(now)
        return None if wait <= 0 else max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
