"""A tiny HTTP layer over stdlib `ThreadingHTTPServer`: an app is a callable from `Request` to `Response`."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

#: Everything local is on loopback: never send it through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def urlopen(request: urllib.request.Request | str, *, timeout: float) -> Any:
    """`urllib.request.urlopen` without proxies."""
    return _OPENER.open(request, timeout=timeout)


@dataclass(frozen=True)
class Request:
    """One HTTP request as received: the raw body is kept byte for byte (signatures are over it)."""

    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str = "127.0.0.1"

    def header(self, name: str, default: str = "") -> str:
        """The first value of a header, case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)

    @property
    def query(self) -> dict[str, str]:
        """The query string, first value of each parameter."""
        return {k: v[0] for k, v in parse_qs(self.raw_query, keep_blank_values=True).items()}

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


@dataclass
class Response:
    """What an app answers; `json_response` and `text_response` build the usual ones."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to sleep before answering (fault injection).
    delay_s: float = 0.0


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def text_response(text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


App = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: socketserver's default listen backlog is 5: a burst of concurrent connections (Slack, or the load
    #: benchmark) overflows it and the kernel drops SYNs, which clients retry only after 1 s.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, *, keep_alive: bool = False) -> None:
        self.app = app
        super().__init__(address, _KeepAliveHandler if keep_alive else _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "opsbot-local/0.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            raw_query=parts.query,
            headers=list(self.headers.items()),
            body=body,
            client_ip=self.client_address[0],
        )
        app: App = self.server.app  # type: ignore[attr-defined]
        try:
            response = app(request)
        except Exception:
            logger.exception("%s %s failed", self.command, self.path)
            response = json_response({"message": "Internal Server Error"}, 500)
        if response.delay_s > 0:
            threading.Event().wait(response.delay_s)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


class _KeepAliveHandler(_Handler):
    """HTTP/1.1: a connection serves requests until the client closes it (every response has its length)."""

    protocol_version = "HTTP/1.1"
    #: The status line and headers, then the body, are two writes: with Nagle's algorithm on a kept connection
    #: the body waits for the client's delayed ACK of the headers (about 40 ms per response on Linux).
    disable_nagle_algorithm = True


class BackgroundServer:
    """Serves an app on 127.0.0.1 from a daemon thread; port 0 picks a free port. `keep_alive`: HTTP/1.1
    persistent connections, as the real service speaks (else each response closes its connection)."""

    def __init__(self, app: App, *, host: str = "127.0.0.1", port: int = 0, keep_alive: bool = False) -> None:
        self._httpd = _Server((host, port), app, keep_alive=keep_alive)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:3000."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                daemon=True,
                name=f"http-{self.port}",
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
