"""Slack user-group membership for policy checks: `usergroups.users.list`, cached per container."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)

#: How long a group's members are kept before the Web API is asked again (the scope is `usergroups:read`).
GROUP_CACHE_TTL_S = 300.0


class UserGroups:
    """Members of a user group, from the Web API, cached `ttl_s` seconds. None when Slack would not say
    (no scope, unknown group): the policy then treats the group as admitting nobody."""

    def __init__(
        self, web_client: Any, *, ttl_s: float = GROUP_CACHE_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._web = web_client
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str] | None]] = {}
        #: Web API calls made (for tests and logs).
        self.lookups = 0

    def members(self, group: str) -> frozenset[str] | None:
        cached = self._cache.get(group)
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        self.lookups += 1
        try:
            users = self._web.usergroups_users_list(usergroup=group).get("users") or []
            found: frozenset[str] | None = frozenset(str(u) for u in users)
        except SlackApiError as exc:
            logger.warning("cannot list the members of user group %s: %s", group, exc.response.get("error"))
            found = None
        self._cache[group] = (self._clock(), found)
        return found
