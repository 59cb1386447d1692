"""How the worker reads Slack's answers: a rate limit is paced, Slack's own trouble retried with a bound, any
other refusal permanent (told once, naming the code), whichever exception wraps the SlackApiError."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryState
from slack_sdk.web import SlackResponse

from worker_function.errors import SlackDeliveryError
from worker_function.slack_errors import (
    ShortRateLimitRetryHandler,
    SlackRateLimitedError,
    refusal_of,
)


def api_error(error: str, *, status: int = 200, headers: dict | None = None, channel: str = "C0X") -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={"json": {"channel": channel, "text": "x"}},
        data={"ok": False, "error": error, **({"needed": "groups:history"} if error == "missing_scope" else {})},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("refused", response)


@pytest.mark.parametrize(
    "code",
    [
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "missing_scope",
        "invalid_auth",
        "token_revoked",
        "restricted_action",
        "no_permission",
        "invalid_blocks",
        "msg_too_long",
        "account_inactive",
    ],
)
def test_a_refusal_no_retry_changes_is_permanent_and_named(code):
    refusal = refusal_of(api_error(code))

    assert refusal is not None and refusal.permanent and not refusal.rate_limited
    assert refusal.describe().startswith(f"Slack refused chat.postMessage in C0X: {code}")


@pytest.mark.parametrize("code", ["internal_error", "fatal_error", "service_unavailable", "request_timeout"])
def test_slack_s_own_trouble_is_retried(code):
    refusal = refusal_of(api_error(code))

    assert refusal is not None and not refusal.permanent


def test_a_5xx_is_not_permanent_and_a_429_is_a_rate_limit_with_its_retry_after():
    assert not refusal_of(api_error("fatal_error", status=503)).permanent  # type: ignore[union-attr]
    limited = refusal_of(api_error("ratelimited", status=429, headers={"retry-after": "30"}))

    assert limited is not None and limited.rate_limited and not limited.permanent
    assert SlackRateLimitedError(limited).delay_s == 30


def test_the_refusal_is_found_through_the_exceptions_that_wrap_it():
    try:
        try:
            raise api_error("not_in_channel")
        except SlackApiError as exc:
            raise SlackDeliveryError("chat.postMessage failed") from exc
    except SlackDeliveryError as wrapped:
        refusal = refusal_of(wrapped)

    assert refusal is not None and refusal.error == "not_in_channel"
    assert "/invite @opsbot" in refusal.describe()
    assert refusal_of(RuntimeError("no Slack in it")) is None


def test_missing_scope_names_the_scope_needed():
    assert "missing_scope (needs groups:history)" in refusal_of(api_error("missing_scope")).describe()  # type: ignore[union-attr]


@pytest.mark.parametrize(("retry_after", "waited"), [("1", True), ("5", True), ("6", False), ("60", False)])
def test_only_a_short_retry_after_is_waited_for_within_the_invocation(retry_after, waited):
    handler = ShortRateLimitRetryHandler()
    request = HttpRequest(method="POST", url="https://slack.com/api/chat.postMessage", headers={})
    response = HttpResponse(status_code=429, headers={"Retry-After": retry_after})

    assert handler.can_retry(state=RetryState(), request=request, response=response) is waited
    assert not handler.can_retry(
        state=RetryState(current_attempt=handler.max_retry_count), request=request, response=response
    )
