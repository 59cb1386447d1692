"""API Gateway (HTTP API v2, REST v1) and Function URL events to Bolt and back.

Bolt's own `slack_bolt.adapter.aws_lambda` does the same in the same two functions, but it imports boto3
for lazy listeners (a Lambda client that invokes the function again) and the OAuth flow: ~110 ms of the
ack's cold start for features the ack does not use (bench/results/results.md, section 1b). Slack only
POSTs to the request URL, so any other method is answered 404 like Bolt's adapter does.
"""

from __future__ import annotations

import base64
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse


def to_bolt_request(event: dict[str, Any]) -> BoltRequest:
    """The raw body (base64-decoded when API Gateway encoded it), the query and the headers, as Bolt verifies them."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return BoltRequest(body=body, query=event.get("queryStringParameters") or {}, headers=event.get("headers") or {})


def to_aws_response(response: BoltResponse) -> dict[str, Any]:
    return {"statusCode": response.status, "body": response.body, "headers": response.first_headers()}


def http_method(event: dict[str, Any]) -> str | None:
    context = event.get("requestContext") or {}
    method = (context.get("http") or {}).get("method") or context.get("httpMethod")
    return str(method) if method is not None else None


class SlackRequestHandler:
    """`handle(event, context)` like Bolt's Lambda adapter, for POST requests only."""

    def __init__(self, app: App) -> None:
        self.app = app

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if http_method(event) != "POST":
            return {"statusCode": 404, "body": "Not Found", "headers": {}}
        return to_aws_response(self.app.dispatch(to_bolt_request(event)))
