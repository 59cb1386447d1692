"""The seed article's synchronous pattern doing the time-to-answer benchmark's work (bench/baselines/answer_work.py):
one Bolt app with `process_before_response=True` whose listener calls ack(), does the work, then say()s the result
(chat.postMessage with the bot token), all before the HTTP response leaves (bench/baselines/seed_sync.py).

Its bot token and Web API from SLACK_BOT_TOKEN and SLACK_API_URL (the local Slack API)."""

from __future__ import annotations

import os
import re
from typing import Any

from slack_bolt import Ack, App, Say
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient

from bench.baselines import answer_work

app = App(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    process_before_response=True,
)


@app.command(re.compile(r"^/.+"))
def handle_command(ack: Ack, body: dict[str, Any], say: Say) -> None:
    ack(f"Working on `{body['command']} {body.get('text', '')}`...")
    say(text=answer_work.run(body["command"], body.get("text", ""), body["user_id"]), channel=body["channel_id"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return SlackRequestHandler(app=app).handle(event, context)
