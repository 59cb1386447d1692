"""Bolt's lazy-listener pattern (Bolt's docs, "Lazy listeners (FaaS)", and its examples/aws_lambda/lazy_aws_lambda.py).

One function acks within 3 s and invokes *itself* asynchronously (Lambda `Invoke`, InvocationType
Event) to run the lazy part. `process_before_response=True`, as Bolt requires on FaaS. The ack
listener answers every command the way the documented example does; the lazy part is never run
by the benchmarks (its invocation goes to moto or to a recording client).
"""

from __future__ import annotations

import re
import time
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient


def respond_to_slack_within_3_seconds(body: dict[str, Any], ack: Ack) -> None:
    """The documented ack function."""
    if body.get("text") is None:
        ack(f":x: Usage: {body.get('command')} (description here)")
    else:
        ack(f"Accepted! (task: {body['command']} {body['text']})")


def process_request(respond: Respond, body: dict[str, Any]) -> None:
    """The documented lazy function (runs in a second invocation; never reached by the benchmarks)."""
    time.sleep(5)
    respond(f"Completed! (task: {body['text']})")


def _authorize_without_web_api(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)


def build_app(signing_secret: str, *, client: WebClient | None = None) -> App:
    """The lazy-listener app. With a `client` holding a token it is the documented single-workspace app
    (auth.test at construction); without one it authorizes without the Web API, exactly as opsbot's ack
    does, so the comparison is framework against framework."""
    if client is not None and client.token:
        app = App(process_before_response=True, signing_secret=signing_secret, client=client)
    else:
        app = App(
            process_before_response=True,
            signing_secret=signing_secret,
            client=WebClient(),
            authorize=_authorize_without_web_api,
        )
    app.command(re.compile(r"^/.+"))(ack=respond_to_slack_within_3_seconds, lazy=[process_request])
    return app


def build_handler(app: App, lambda_client: Any) -> SlackRequestHandler:
    """Bolt's Lambda adapter with the Lambda client passed in (Bolt's own `LambdaLazyListenerRunner` argument)."""
    handler = SlackRequestHandler(app)
    app.listener_runner.lazy_listener_runner = LambdaLazyListenerRunner(handler.logger, lambda_client=lambda_client)
    return handler
