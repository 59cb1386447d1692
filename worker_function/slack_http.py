"""Slack's HTTP calls over kept-alive connections: one TCP (and TLS) handshake per host and sandbox, not per call.

slack_sdk's sync `WebClient` and `WebhookClient` send every request through `urllib.request.urlopen`, which
opens a new connection and sends `Connection: close`; the SDK offers no pooled transport for them (only the
aiohttp-based async clients keep a session). `PooledWebClient` and `PooledWebhookClient` replace only that
last step: the same `urllib.request.Request` goes over an idle `http.client` connection of `ConnectionPool`
when there is one. They answer as urllib does, so slack_sdk's retry handlers and `effects.not_sent` see no
difference: `HTTPError` for a status that is not 2xx, `URLError` when the request could not be sent, and the
error itself (a timeout, `RemoteDisconnected`) when it failed after the request left. A connection the server
has closed while idle is found before it is used (its socket reads as ready) and replaced.
"""

from __future__ import annotations

import functools
import http.client
import io
import select
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from ssl import SSLContext, create_default_context
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from slack_sdk.webhook.webhook_response import WebhookResponse

#: Idle connections kept per (scheme, host, port); more are opened when calls overlap, and closed after.
MAX_IDLE_PER_HOST = 4

_Origin = tuple[str, str, int]


@dataclass(frozen=True)
class PooledResponse:
    """What urllib's response gives slack_sdk: status, headers (an `email.message.Message`), the body."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def code(self) -> int:
        return self.status


class ConnectionPool:
    """A few persistent `http.client` connections per origin, shared by threads (one request at a time each)."""

    def __init__(self, *, ssl_context: SSLContext | None = None, max_idle_per_host: int = MAX_IDLE_PER_HOST) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle_per_host
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        #: Connections opened and requests sent (the benchmark reports connects per request).
        self.connects = 0
        self.requests = 0

    def open(self, request: urllib.request.Request, *, timeout: float) -> PooledResponse:
        """Send the request and read its response; raise as `urllib.request.urlopen` would."""
        parts = urlsplit(request.full_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise urllib.error.URLError(f"unsupported URL: {parts.scheme}://{parts.hostname}")
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._checkout(origin, timeout)
        try:
            connection.request(request.get_method(), path, body=request.data, headers=dict(request.header_items()))
        except OSError as exc:  # not sent (refused, unreachable, reset while sending): as urllib reports it
            connection.close()
            raise urllib.error.URLError(exc) from exc
        try:
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._checkin(origin, connection)
        if not 200 <= response.status < 300:
            reason, fp = response.reason, io.BytesIO(body)
            raise urllib.error.HTTPError(request.full_url, response.status, reason, response.msg, fp)
        return PooledResponse(response.status, response.msg, body)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _checkout(self, origin: _Origin, timeout: float) -> http.client.HTTPConnection:
        with self._lock:
            self.requests += 1
            idle = self._idle.get(origin) or []
            while idle:
                connection = idle.pop()
                if _usable(connection):
                    connection.timeout = timeout
                    if connection.sock is not None:
                        connection.sock.settimeout(timeout)
                    return connection
                connection.close()
            self.connects += 1
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl or default_tls())
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _checkin(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()


def _usable(connection: http.client.HTTPConnection) -> bool:
    """An idle connection whose socket has nothing to read: one the server closed reads as ready (EOF)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


@functools.cache
def default_tls() -> SSLContext:
    """One default TLS context per process (loading the CA bundle costs milliseconds)."""
    return create_default_context()


class PooledWebClient(WebClient):
    """slack_sdk's WebClient, its requests sent over `pool`'s kept-alive connections (a proxy: urllib's path).

    Without a `token`, `token_source` gives it when a Web API call first needs it (the bot token, read from the
    Slack secret): a job that only answers through its response_url never reads the secret."""

    def __init__(
        self,
        *args: Any,
        pool: ConnectionPool | None = None,
        token_source: Callable[[], str | None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool or ConnectionPool(ssl_context=self.ssl)
        self._token_source = token_source
        self._token_read = self.token is not None

    def forget_token(self) -> None:
        """The next Web API call reads the token again from `token_source` (a SnapStart copy reads its own)."""
        if self._token_source is not None:
            self.token, self._token_read = None, False

    def api_call(self, *args: Any, **kwargs: Any) -> Any:
        if not self._token_read and self._token_source is not None:
            self.token = self._token_source()  # raises when it cannot be read: read again by the next call
            self._token_read = True
        return super().api_call(*args, **kwargs)

    def _perform_urllib_http_request_internal(self, url: str, req: urllib.request.Request) -> dict[str, Any]:
        if self.proxy is not None or not url.lower().startswith("http"):
            return super()._perform_urllib_http_request_internal(url, req)
        response = self.pool.open(req, timeout=self.timeout)
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": response.body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.headers, "body": response.body.decode(charset)}


class PooledWebhookClient(WebhookClient):
    """slack_sdk's WebhookClient (a response_url), sent over `pool`'s kept-alive connections."""

    def __init__(self, url: str, *args: Any, pool: ConnectionPool | None = None, **kwargs: Any) -> None:
        super().__init__(url, *args, **kwargs)
        self.pool = pool or ConnectionPool(ssl_context=self.ssl)

    def _perform_http_request_internal(self, url: str, req: urllib.request.Request) -> WebhookResponse:
        if self.proxy is not None or not url.lower().startswith("http"):
            return super()._perform_http_request_internal(url, req)
        response = self.pool.open(req, timeout=self.timeout)
        charset = response.headers.get_content_charset() or "utf-8"
        return WebhookResponse(
            url=url,
            status_code=response.status,
            body=response.body.decode(charset),
            headers=response.headers,  # type: ignore[arg-type]
        )


__all__ = ["ConnectionPool", "PooledResponse", "PooledWebClient", "PooledWebhookClient", "default_tls"]
