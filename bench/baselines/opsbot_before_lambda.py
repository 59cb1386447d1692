"""opsbot's ack as it was before the cold-start work, for "what each change bought" in the same run.

The same Bolt app (`ack_function.app.build_app`) and handler logic, with what the ack used to load:
BENCH_BEFORE=adapter: Bolt's `slack_bolt.adapter.aws_lambda` (imports boto3 for lazy listeners) instead of
`ack_function.adapter`; BENCH_BEFORE=adapter+boto3 (default): that, and a boto3 Session with its SQS client
(`shared.queue.sqs_client`) instead of `shared.aws_json.SqsSendClient`.
"""

from __future__ import annotations

import os
from typing import Any

from slack_bolt.adapter.aws_lambda import SlackRequestHandler

from ack_function.app import build_app
from ack_function.handler import handle
from shared.aws_json import SqsSendClient
from shared.queue import SqsJobQueue, sqs_client
from shared.settings import AckSettings

_settings = AckSettings.from_env()
if os.environ.get("BENCH_BEFORE", "adapter+boto3") == "adapter+boto3":
    _client: Any = sqs_client(
        _settings.aws_region,
        endpoint_url=_settings.aws_endpoint_url,
        connect_timeout=_settings.enqueue_connect_timeout_s,
        read_timeout=_settings.enqueue_read_timeout_s,
    )
else:
    _client = SqsSendClient(_settings.aws_region, endpoint_url=_settings.aws_endpoint_url)
assert _settings.slack_signing_secret is not None
_handler = SlackRequestHandler(
    build_app(_settings.slack_signing_secret.get_secret_value(), SqsJobQueue(_settings.jobs_queue_url, client=_client))
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_handler, event, context)
