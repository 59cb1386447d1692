"""Kept-alive HTTP/1.1 connections for the local stack's moto server (`python -m infra.devstack.moto_server`);
moto and werkzeug are not modified on disk.

Why: werkzeug's development server, which `moto.server` runs, sends `Connection: close` with every response
(its comment: http.server cannot drain an unread request body before the next request line), so every
botocore call to moto opened a new TCP connection, which AWS's endpoints do not make a client do. This
handler reads a request's body whole before moto sees it (moto reads it from memory, nothing is left on the
connection), keeps werkzeug's after-response drain off the next request, and lets the connection stay open,
unless the client asks to close it or the request's body is chunked (werkzeug's own path, closed as before).

Two per-request costs go too: the request line werkzeug formats and logs at INFO for every call (the `werkzeug`
logger is set to WARNING: errors are still logged), and moto's lookup of the service of a request to
`127.0.0.1:<port>`, which lists moto's package directory (an `isdir` per service, ~150) on every request: the
list is read once.
"""

from __future__ import annotations

import io
import logging
from typing import Any


def apply() -> bool:
    """Serve moto with the kept-alive handler; False if moto's server layout differs."""
    try:
        import moto.server
        from moto import backends
        from moto.moto_server.werkzeug_app import MotoRequestHandler
    except ImportError:
        return False
    if not hasattr(moto.server, "MotoRequestHandler"):
        return False
    if hasattr(backends, "list_of_moto_modules"):
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    requests_logged = logging.getLogger("werkzeug").isEnabledFor

    class KeepAliveRequestHandler(MotoRequestHandler):
        """moto's handler, with the request body read up front and `Connection: close` left out."""

        _body_read = False
        #: werkzeug writes the headers, then the body: with Nagle's algorithm on a kept connection the body
        #: would wait for the client's delayed ACK of the headers (about 40 ms per response on Linux).
        disable_nagle_algorithm = True

        def parse_request(self) -> bool:
            self._body_read = False  # an error answered before the body is read closes the connection
            return bool(super().parse_request())

        def make_environ(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().make_environ()
            self._body_read = False
            if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's path, the connection closes
                return environ
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return environ
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
            self._body_read = True
            # werkzeug "drains" the socket after the response (it expects to close it): that would swallow the
            # next request, so its drain reads from an empty stream; `run_wsgi` puts the real one back.
            self.rfile = io.BytesIO()
            return environ

        def run_wsgi(self) -> None:
            connection_stream = self.rfile
            try:
                super().run_wsgi()
            finally:
                self.rfile = connection_stream

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if requests_logged(logging.INFO):  # else not even formatted
                super().log_request(code, size)

        def send_header(self, keyword: str, value: str) -> None:
            if self._body_read and keyword.lower() == "connection" and value.lower() == "close":
                return  # the client's own `Connection: close` (or HTTP/1.0) still closes it
            super().send_header(keyword, value)

    moto.server.MotoRequestHandler = KeepAliveRequestHandler  # type: ignore[misc]
    return True
