"""A stand-in worker for stack tests: keeps the environment it saw at import, answers each job with a
progress message on its response_url and a final one with chat.postMessage."""

from __future__ import annotations

import json
import os
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

ENV = dict(os.environ)
# The local Slack API answers 429 past ~1 message/s per channel, as Slack does: wait its Retry-After.
_client = WebClient(
    token=os.environ["SLACK_BOT_TOKEN"],
    base_url=os.environ["SLACK_API_URL"],
    retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)],
)


def _metadata(job_id: str, *, final: bool) -> dict[str, Any]:
    return {"event_type": "opsbot_job", "event_payload": {"job_id": job_id, "final": final}}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for record in event["Records"]:
        job = json.loads(record["body"])
        WebhookClient(job["response_url"]).send_dict(
            {"text": "working", "response_type": "ephemeral", "metadata": _metadata(job["job_id"], final=False)}
        )
        _client.chat_postMessage(
            channel=job["channel_id"], text=f"{job['command']} done", metadata=_metadata(job["job_id"], final=True)
        )
    return {"batchItemFailures": []}
