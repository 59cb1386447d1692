"""Putting a job in the dead-letter queue ourselves, with the reason, instead of after N useless retries."""

from __future__ import annotations

from typing import Any

from shared.jobs import utcnow
from shared.queue import DLQ_ATTEMPTS_ATTR, DLQ_FAILED_AT_ATTR, DLQ_REASON_ATTR


class DeadLetters:
    def __init__(self, dlq_url: str, *, client: Any) -> None:
        self._url = dlq_url
        self._client = client

    def put(self, body: str, *, reason: str, attempts: int) -> None:
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=body,
            MessageAttributes={
                DLQ_REASON_ATTR: {"DataType": "String", "StringValue": reason[:1000]},
                DLQ_ATTEMPTS_ATTR: {"DataType": "Number", "StringValue": str(attempts)},
                DLQ_FAILED_AT_ATTR: {"DataType": "String", "StringValue": utcnow().isoformat()},
            },
        )
