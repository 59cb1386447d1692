"""Lambda events as AWS builds them: API Gateway HTTP API (payload 2.0) and the SQS event source mapping.

Pure functions: the same inputs give the same event (pass `request_id`/`now` to pin the variable parts).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

#: Account id moto uses by default; also used in the ARNs of the fake Lambda context.
ACCOUNT_ID = "123456789012"

#: Headers API Gateway adds to every request it forwards (values filled per request).
_FORWARDED = ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id")

#: Attributes the SQS event source mapping copies into each record, in AWS's order.
_SQS_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
    "AWSTraceHeader",
)


def is_text_content_type(content_type: str) -> bool:
    """HTTP API passes `text/*` and `application/json` bodies as text; it base64-encodes every other one.

    (AWS: HTTP APIs infer the encoding from the request's content type; a body that is not
    text/* or application/json reaches Lambda base64-encoded with `isBase64Encoded: true`.
    That is why Slack's form-encoded slash commands arrive base64-encoded.)
    """
    media = content_type.split(";")[0].strip().lower()
    return media.startswith("text/") or media == "application/json"


def _header_items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def http_api_event(
    method: str,
    path: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body_bytes: bytes,
    *,
    source_ip: str = "127.0.0.1",
    route_key: str = "$default",
    request_id: str | None = None,
    now: datetime | None = None,
    domain_name: str = "localhost",
    port: int = 443,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload-2.0 event for one request.

    Header names are lowercased; repeated headers are joined with commas; `cookie` headers move
    to `cookies`; the query string (after `?` in `path`) fills `rawQueryString` and
    `queryStringParameters` (repeated names joined with commas). Empty optional fields are left
    out, as API Gateway does.
    """
    raw_path, _, raw_query = path.partition("?")
    when = now if now is not None else datetime.now(UTC)
    epoch_ms = int(when.timestamp() * 1000)
    rid = request_id if request_id is not None else base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")

    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _header_items(headers):
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    forwarded = {
        "x-forwarded-for": source_ip,
        "x-forwarded-port": str(port),
        "x-forwarded-proto": "https" if port == 443 else "http",
        "x-amzn-trace-id": f"Root=1-{epoch_ms // 1000:08x}-{hashlib.sha1(rid.encode()).hexdigest()[:24]}",
    }
    for key in _FORWARDED:
        merged.setdefault(key, forwarded[key])
    if body_bytes:
        merged.setdefault("content-length", str(len(body_bytes)))

    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".")[0],
        "http": {
            "method": method.upper(),
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": rid,
        "routeKey": route_key,
        "stage": "$default",
        "time": when.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": epoch_ms,
    }
    if body_bytes:
        if is_text_content_type(merged.get("content-type", "")):
            event["body"] = body_bytes.decode("utf-8", errors="replace")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body_bytes).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's {"StringValue"|"BinaryValue", "DataType"} -> the event's camelCase form (binary as base64)."""
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode("ascii")
    out["stringListValues"] = list(value.get("StringListValues", []))
    out["binaryListValues"] = [base64.b64encode(bytes(b)).decode("ascii") for b in value.get("BinaryListValues", [])]
    out["dataType"] = value["DataType"]
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the event, from one message of boto3's `receive_message` (AttributeNames=All)."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: str(attributes[k]) for k in _SQS_SYSTEM_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_lambda_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event the Lambda SQS event source mapping builds for one batch of received messages."""
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


@dataclass
class LambdaContext:
    """The Lambda context object, with a real deadline: `get_remaining_time_in_millis()` counts down."""

    function_name: str = "opsbot-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "us-east-1"
    #: time.monotonic() at which the invocation runs out of time; set from `timeout_s` when left at 0.
    deadline: float = 0.0
    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))
