"""What a Slack refusal means for the worker: wait (a rate limit), retry a bounded number of times (Slack's own
trouble), or stop now (anything else: the same call gets the same answer on every receive).

Slack's Web API answers `{"ok": false, "error": CODE}`. The codes a retry can change are the few Slack documents
as its own trouble or throttling for the methods opsbot calls (chat.postMessage, chat.update,
chat.postEphemeral, conversations.open, conversations.history, usergroups.users.list, views.publish):
`ratelimited` (HTTP 429 with `Retry-After`), `internal_error`, `fatal_error`, `service_unavailable`,
`request_timeout`, `team_added_to_org`, `message_limit_exceeded`. Every other code (`not_in_channel`,
`channel_not_found`, `is_archived`, `missing_scope`, `invalid_auth`, `token_revoked`, `no_permission`,
`restricted_action`, ...) is permanent: not retried on every receive, but reported once, naming the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, RetryState
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

from worker_function.pacing import DeferError

#: Codes that a later attempt of the same call may not get (Slack's trouble, throttling).
TRANSIENT_SLACK_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
        "message_limit_exceeded",
    }
)
#: What a person can do about the commonest permanent refusals (shown with the code).
REMEDIES = {
    "not_in_channel": "invite the bot to the channel (/invite @opsbot)",
    "channel_not_found": "the channel does not exist, or is private and the bot was not invited (/invite @opsbot)",
    "is_archived": "the channel is archived: unarchive it or name another channel in the inventory",
    "missing_scope": "the app lacks a scope: reinstall it from the manifest `opsbot manifest` prints",
    "invalid_auth": "the bot token is wrong: check the Slack secret's bot_token",
    "token_revoked": "the bot token was revoked: reinstall the app and update the Slack secret",
    "account_inactive": "the app was uninstalled or its bot deactivated: reinstall it",
}
#: A Retry-After up to this long is waited for within the invocation; a longer one defers the message.
SHORT_WAIT_S = 5.0
#: How many short waits one call may make before its message is deferred instead.
SHORT_WAIT_RETRIES = 4


@dataclass(frozen=True)
class SlackRefusal:
    """A Slack API answer found in an exception's chain: the method, the channel, the code."""

    method: str
    error: str
    channel: str | None = None
    needed: str | None = None
    status: int = 200
    retry_after: float | None = None

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.error in ("ratelimited", "rate_limited")

    @property
    def permanent(self) -> bool:
        return not self.rate_limited and self.status < 500 and self.error not in TRANSIENT_SLACK_ERRORS

    def describe(self) -> str:
        """`Slack refused chat.postMessage in C0X: not_in_channel (invite the bot ...)`."""
        where = f" in {self.channel}" if self.channel else ""
        code = f"{self.error} (needs {self.needed})" if self.needed else self.error
        remedy = REMEDIES.get(self.error)
        return f"Slack refused {self.method}{where}: {code}" + (f"; {remedy}" if remedy else "")


def refusal_of(exc: BaseException) -> SlackRefusal | None:
    """The Slack API refusal that caused `exc` (itself, its cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SlackApiError):
            return _refusal(current)
        current = current.__cause__ or current.__context__
    return None


def _refusal(exc: SlackApiError) -> SlackRefusal:
    response: Any = exc.response
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    method = str(getattr(response, "api_url", "") or "").rstrip("/").rsplit("/", 1)[-1] or "?"
    args = getattr(response, "req_args", None) or {}
    params = {**(args.get("params") or {}), **(args.get("json") or {}), **(args.get("data") or {})}
    headers = getattr(response, "headers", None) or {}
    retry_after = _retry_after(headers)
    return SlackRefusal(
        method=method,
        error=str(data.get("error") or f"http_{getattr(response, 'status_code', 0)}"),
        channel=str(params["channel"]) if params.get("channel") else None,
        needed=str(data["needed"]) if data.get("needed") else None,
        status=int(getattr(response, "status_code", 200) or 200),
        retry_after=retry_after,
    )


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds from a header mapping (any case; a value or a list of values)."""
    if not hasattr(headers, "items"):
        return None
    for name, value in headers.items():
        if str(name).lower() != "retry-after":
            continue
        if isinstance(value, list):
            value = value[0] if value else None
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None
    return None


class SlackRateLimitedError(DeferError):
    """Slack asked to wait longer than is worth waiting in the invocation: the message goes back on the queue
    with that delay, without spending one of its receives."""

    def __init__(self, refusal: SlackRefusal) -> None:
        retry_after = refusal.retry_after or 1
        super().__init__(f"Slack rate-limited {refusal.method}: retry after {retry_after} s", retry_after)
        self.refusal = refusal


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """A 429 is retried after its Retry-After only when that is short (`SHORT_WAIT_S`): a longer wait is the
    queue's (the caller raises `SlackRateLimitedError`), not the invocation's."""

    def __init__(self, max_retry_count: int = SHORT_WAIT_RETRIES, *, max_wait_s: float = SHORT_WAIT_S) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is None or wait <= self.max_wait_s
