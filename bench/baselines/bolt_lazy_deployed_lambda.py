"""Bolt lazy listeners (best case, as bolt_lazy_lambda) configured as opsbot is deployed: the signing secret read by
ARN from Secrets Manager with boto3 at init (OPSBOT_SECRET_ARN, JSON with `signing_secret`), no SLACK_SIGNING_SECRET.

Bolt's documentation registers no SnapStart hook, so a restored copy keeps the secret and clients from the snapshot."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from bench.baselines.bolt_lazy import build_app, build_handler

# boto3 reads AWS_REGION and AWS_ENDPOINT_URL (moto in the benchmarks) from the environment.
_secret = json.loads(
    boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["OPSBOT_SECRET_ARN"])["SecretString"]
)
_handler = build_handler(build_app(_secret["signing_secret"]), boto3.client("lambda"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler.handle(event, context)
