"""Bolt lazy listeners exactly as Bolt's examples/aws_lambda/lazy_aws_lambda.py deploys them: a bot token
(so `auth.test` at import), and `SlackRequestHandler(app=app)` built per invocation, which gives every
request a fresh `LambdaLazyListenerRunner` that creates `boto3.client("lambda")` during the request.

The only changes: the Web API points at the local Slack API (SLACK_API_URL) and logging stays at
WARNING (the example sets DEBUG, which would log every body)."""

from __future__ import annotations

import os
from typing import Any

from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient

from bench.baselines.bolt_lazy import build_app

app = build_app(
    os.environ["SLACK_SIGNING_SECRET"],
    client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    slack_handler = SlackRequestHandler(app=app)
    return slack_handler.handle(event, context)
