"""Bolt's lazy-listener app doing the time-to-answer benchmark's work (bench/baselines/answer_work.py) in its lazy
listener, as Bolt documents it ("Lazy listeners (FaaS)"): the ack listener answers within 3 s, Bolt's Lambda adapter
invokes the function itself asynchronously (`LambdaLazyListenerRunner`, boto3 `Invoke`, `InvocationType=Event`),
and that second invocation runs the lazy listener, which answers through the command's response_url.

The signing secret from SLACK_SIGNING_SECRET, as opsbot's ack gets it on the local stack; the Lambda client goes
wherever AWS_ENDPOINT_URL_LAMBDA points (the benchmark's invocation stand-in, bench/invoker.py)."""

from __future__ import annotations

import os
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient

from bench.baselines import answer_work
from bench.baselines.bolt_lazy import _authorize_without_web_api


def acknowledge(body: dict[str, Any], ack: Ack) -> None:
    ack(f"Working on `{body['command']} {body.get('text', '')}`...")


def work(body: dict[str, Any], respond: Respond) -> None:
    respond(answer_work.run(body["command"], body.get("text", ""), body["user_id"]), response_type="in_channel")


app = App(
    process_before_response=True,
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=WebClient(),
    authorize=_authorize_without_web_api,
)
app.command(re.compile(r"^/.+"))(ack=acknowledge, lazy=[work])
_handler = SlackRequestHandler(app)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler.handle(event, context)
