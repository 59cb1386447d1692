"""The local API Gateway: `POST /slack/events` becomes a payload-2.0 event for the ack function's handler."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

from infra.devstack._http import BackgroundServer, Request, Response, json_response
from infra.devstack.events import LambdaContext, http_api_event

logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]

SLACK_EVENTS_PATH = "/slack/events"


def default_ack_handler() -> LambdaHandler:
    """The ack function's `lambda_handler`; imported on first use, after the environment is set."""
    from ack_function.handler import lambda_handler

    return lambda_handler


def to_http_response(result: Any) -> Response:
    """A payload-2.0 Lambda result as API Gateway turns it into an HTTP response.

    A dict with `statusCode` is used as is (`body`, `headers`, `cookies`, `isBase64Encoded`);
    any other JSON result is sent as a 200 `application/json` body, as HTTP APIs infer.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        return json_response(result)
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    headers.setdefault("Content-Type", "application/json")
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = Response(int(result["statusCode"]), raw, headers)
    for cookie in result.get("cookies") or []:
        response.headers["Set-Cookie"] = str(cookie)  # one cookie is all Slack apps ever set
    return response


class Ingress:
    """HTTP server on 127.0.0.1 playing API Gateway in front of the ack function."""

    def __init__(
        self,
        handler: LambdaHandler | None = None,
        *,
        port: int = 0,
        function_name: str = "opsbot-ack",
        timeout_s: float = 10.0,
        region: str = "us-east-1",
    ) -> None:
        self._handler = handler
        self._function_name = function_name
        self._timeout_s = timeout_s
        self._region = region
        self._server = BackgroundServer(self.handle, port=port)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def events_url(self) -> str:
        """Where Slack (or `opsbot send`) posts: the app's Request URL."""
        return f"{self.url}{SLACK_EVENTS_PATH}"

    def start(self) -> Ingress:
        """Import the default ack handler if none was given, and start serving."""
        if self._handler is None:
            self._handler = default_ack_handler()
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Ingress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle(self, request: Request) -> Response:
        """The server's app: health, the Slack route, or API Gateway's 404."""
        if request.path == "/health" and request.method == "GET":
            return json_response({"ok": True})
        if request.path != SLACK_EVENTS_PATH or request.method != "POST":
            return json_response({"message": "Not Found"}, 404)
        path = f"{request.path}?{request.raw_query}" if request.raw_query else request.path
        event = http_api_event(
            request.method,
            path,
            request.headers,
            request.body,
            source_ip=request.client_ip,
            route_key=f"POST {SLACK_EVENTS_PATH}",
            domain_name=request.header("host", "localhost").split(":")[0],
            port=self._server.port,
        )
        context = LambdaContext(function_name=self._function_name, timeout_s=self._timeout_s, region=self._region)
        handler = self._handler or default_ack_handler()
        try:
            result = handler(event, context)
            # What API Gateway does with the result: it must be JSON.
            result = json.loads(json.dumps(result))
        except Exception:
            logger.exception("the ack handler raised")
            return json_response({"message": "Internal Server Error"}, 500)
        return to_http_response(result)
