"""Bolt lazy listeners at their best on Lambda: app, adapter and boto3 Lambda client all built at init
(the client is created once, not per request), no token and so no auth.test, like opsbot's ack."""

from __future__ import annotations

import os
from typing import Any

import boto3

from bench.baselines.bolt_lazy import build_app, build_handler

# boto3 reads AWS_REGION and AWS_ENDPOINT_URL (moto in the benchmarks) from the environment.
_handler = build_handler(build_app(os.environ["SLACK_SIGNING_SECRET"]), boto3.client("lambda"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler.handle(event, context)
