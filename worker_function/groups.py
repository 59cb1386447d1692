"""Slack user-group membership for policy checks: `usergroups.users.list`, cached per container."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from worker_function.errors import GroupLookupError

logger = logging.getLogger(__name__)

#: Answers that will not change by asking again: the group admits nobody (cached like members).
PERMANENT_ERRORS = frozenset({"no_such_subteam", "subteam_not_found", "missing_scope", "not_allowed_token_type"})

#: How long a group's members are kept before the Web API is asked again (the scope is `usergroups:read`).
GROUP_CACHE_TTL_S = 300.0


class UserGroups:
    """Members of a user group, from the Web API, cached `ttl_s` seconds. None when Slack says it never will
    (no scope, unknown group): the policy then treats the group as admitting nobody. A failure that asking
    again may fix (rate limit, 5xx, timeout) raises `GroupLookupError` and is not cached."""

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
            error = str(exc.response.get("error") or exc.response.status_code)
            logger.warning("cannot list the members of user group %s: %s", group, error)
            if error not in PERMANENT_ERRORS:  # not cached: the next click asks Slack again
                raise GroupLookupError(group, error) from exc
            found = None
        except Exception as exc:  # connection refused, timeout: transient too
            logger.warning("cannot list the members of user group %s: %r", group, exc)
            raise GroupLookupError(group, repr(exc)) from exc
        self._cache[group] = (self._clock(), found)
        return found
