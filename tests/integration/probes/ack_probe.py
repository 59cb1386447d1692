"""A stand-in ack function for stack tests: keeps the environment it saw at import (its cold start),
verifies the signature, and queues the form as a job with a client built from that environment."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any
from urllib.parse import parse_qs

import boto3
from slack_sdk.signature import SignatureVerifier

ENV = dict(os.environ)
_verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
_sqs = boto3.session.Session().client("sqs")  # region, endpoint and credentials all from the environment
_queue_url = os.environ["JOBS_QUEUE_URL"]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    if not _verifier.is_valid_request(raw, event["headers"]):
        return {"statusCode": 401, "body": "invalid request", "headers": {}}
    form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
    job_id = uuid.uuid4().hex
    _sqs.send_message(QueueUrl=_queue_url, MessageBody=json.dumps({"job_id": job_id, **form}))
    return {
        "statusCode": 200,
        "body": json.dumps({"response_type": "ephemeral", "text": f"queued as job `{job_id[:8]}`"}),
        "headers": {"Content-Type": "application/json"},
    }
