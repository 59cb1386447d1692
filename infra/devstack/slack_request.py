"""Slash-command requests as Slack sends them: a form body, signed with the app's signing secret."""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from infra.devstack._http import urlopen
from infra.devstack.errors import IngressUnreachableError

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def random_trigger_id() -> str:
    """Shaped like Slack's (`398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c`); its first part is when
    it was issued (ms since the epoch), so the local Slack API can refuse it 3 seconds later as Slack does."""
    return f"{int(time.time() * 1000)}.{secrets.randbelow(10**11):011d}.{secrets.token_hex(16)}"


@dataclass(frozen=True)
class SlashCommand:
    """The fields Slack posts for a slash command. `trigger_id` is new for every request."""

    command: str
    text: str = ""
    response_url: str = ""
    user_id: str = "U0LOCALDEV"
    user_name: str = "local-dev"
    channel_id: str = "C0LOCALOPS"
    channel_name: str = "ops"
    team_id: str = "T0LOCAL"
    team_domain: str = "local"
    api_app_id: str = "A0OPSBOT"
    #: Slack's deprecated verification token; sent for realism, never to be trusted.
    token: str = "localverificationtoken00"
    trigger_id: str = field(default_factory=random_trigger_id)

    def form_body(self) -> bytes:
        """The urlencoded body, fields in the order Slack sends them."""
        return urlencode(
            {
                "token": self.token,
                "team_id": self.team_id,
                "team_domain": self.team_domain,
                "channel_id": self.channel_id,
                "channel_name": self.channel_name,
                "user_id": self.user_id,
                "user_name": self.user_name,
                "command": self.command,
                "text": self.text,
                "api_app_id": self.api_app_id,
                "is_enterprise_install": "false",
                "response_url": self.response_url,
                "trigger_id": self.trigger_id,
            }
        ).encode()


@dataclass(frozen=True)
class SignedRequest:
    """A body and the headers Slack sends with it."""

    body: bytes
    headers: dict[str, str]


def sign(body: bytes, signing_secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """`X-Slack-Request-Timestamp` and `X-Slack-Signature` (v0 HMAC-SHA256) for a body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": str(signature)}


def signed_slash_command(command: SlashCommand, signing_secret: str, *, timestamp: int | None = None) -> SignedRequest:
    """The slash command as Slack would post it to the app's Request URL."""
    body = command.form_body()
    headers = {
        "Content-Type": FORM_CONTENT_TYPE,
        "User-Agent": USER_AGENT,
        "Accept": "application/json,*/*",
        **sign(body, signing_secret, timestamp=timestamp),
    }
    return SignedRequest(body=body, headers=headers)


@dataclass(frozen=True)
class PostResult:
    """The ingress's answer and how long it took."""

    status: int
    body: str
    headers: dict[str, str]
    latency_ms: float


def post(url: str, request: SignedRequest, *, timeout: float = 3.0) -> PostResult:
    """POST the request; an HTTP error status is a result, no answer within `timeout` raises
    `IngressUnreachableError` (Slack gives up after 3 s)."""
    http_request = urllib.request.Request(url, data=request.body, headers=request.headers, method="POST")
    started = time.perf_counter()
    try:
        with urlopen(http_request, timeout=timeout) as response:
            body = response.read()
            status, headers = response.status, dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        status, headers = exc.code, dict(exc.headers.items())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IngressUnreachableError(f"no answer from {url}: {reason}") from None
    latency_ms = (time.perf_counter() - started) * 1000
    return PostResult(status=status, body=body.decode(errors="replace"), headers=headers, latency_ms=latency_ms)
