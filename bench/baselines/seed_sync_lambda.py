"""The seed article's Lambda entry: the app built at import, `SlackRequestHandler` per invocation
(as the article's `handler` does). SEED_WORK_SECONDS is the listener's work."""

from __future__ import annotations

import os
from typing import Any

from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient

from bench.baselines.seed_sync import build_app

app = build_app(
    os.environ["SLACK_SIGNING_SECRET"],
    WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    float(os.environ.get("SEED_WORK_SECONDS", "0")),
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    slack_handler = SlackRequestHandler(app=app)
    return slack_handler.handle(event, context)
