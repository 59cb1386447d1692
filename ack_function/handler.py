"""Lambda entry point of the ack function (API Gateway HTTP/REST API and Function URL events)."""

from __future__ import annotations

import binascii
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from slack_bolt.adapter.aws_lambda import SlackRequestHandler

from ack_function.app import build_app
from shared.errors import SettingsError
from shared.observability import ACK_LATENCY, function_logger, function_metrics, publish
from shared.queue import SqsJobQueue, sqs_client
from shared.settings import AckSettings

logger = function_logger("opsbot-ack", "ack_function")
metrics = function_metrics("opsbot-ack")


def _build() -> SlackRequestHandler | None:
    """Everything is built at cold start (and captured by SnapStart), not on the first request."""
    try:
        settings = AckSettings.from_env()
    except SettingsError as exc:
        # Fail closed: a missing signing secret must refuse every request, never skip verification.
        logger.error("opsbot ack is misconfigured, refusing every request: %s", exc)
        return None
    client = sqs_client(
        settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        connect_timeout=settings.enqueue_connect_timeout_s,
        read_timeout=settings.enqueue_read_timeout_s,
    )
    queue = SqsJobQueue(settings.jobs_queue_url, client=client)
    return SlackRequestHandler(build_app(settings, queue))


_handler = _build()


def handle(handler: SlackRequestHandler | None, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one API Gateway / Function URL event with the given Bolt handler."""
    if handler is None:
        return {"statusCode": 503, "body": "opsbot is misconfigured", "headers": {}}
    try:
        response: dict[str, Any] = handler.handle(event, context)
    except (KeyError, ValueError, binascii.Error, UnicodeDecodeError) as exc:
        logger.warning("malformed request event: %s: %s", type(exc).__name__, exc)
        return {"statusCode": 400, "body": "malformed request", "headers": {}}
    if response["statusCode"] == 404:  # signed, but nothing opsbot handles (no command, no payload)
        return {"statusCode": 400, "body": "unsupported request", "headers": {}}
    return response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return handle(_handler, event, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name=ACK_LATENCY, unit=MetricUnit.Milliseconds, value=elapsed_ms)
        publish(metrics)
