"""The floor: the least a signed-slash-command ack can do, stdlib only (HMAC check, form parse, one SigV4 SendMessage
over http.client). Its signing secret is read from Secrets Manager by ARN (one SigV4 GetSecretValue), at init or,
under SnapStart, after restore: configured as the deployed opsbot ack is. No validation, no escaping, no limits."""

import hashlib
import hmac
import http.client
import json
import os
import time
import urllib.parse
from datetime import UTC, datetime

_ENV = os.environ
_URL = urllib.parse.urlsplit(_ENV.get("AWS_ENDPOINT_URL") or f"https://sqs.{_ENV['AWS_REGION']}.amazonaws.com")
_SECRET: list[bytes] = []


def _hm(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def aws_call(service: str, target: str, payload: dict, version: str = "1.0") -> dict:
    """One AWS JSON-protocol POST, signed with Signature Version 4 (IAM user guide: create-signed-request)."""
    body, now = json.dumps(payload).encode(), datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    region, scope = _ENV["AWS_REGION"], f"{now[:8]}/{_ENV['AWS_REGION']}/{service}/aws4_request"
    headers = {"content-type": f"application/x-amz-json-{version}", "host": _URL.netloc, "x-amz-date": now}
    headers |= {"x-amz-security-token": _ENV["AWS_SESSION_TOKEN"], "x-amz-target": target}
    names = ";".join(sorted(headers))
    canonical = "\n".join(["POST", "/", "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", names])
    digest = hashlib.sha256(f"{canonical}\n{hashlib.sha256(body).hexdigest()}".encode()).hexdigest()
    key = ("AWS4" + _ENV["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (now[:8], region, service, "aws4_request"):
        key = _hm(key, part)
    signature = hmac.new(key, f"AWS4-HMAC-SHA256\n{now}\n{scope}\n{digest}".encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={_ENV['AWS_ACCESS_KEY_ID']}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    connection_type = http.client.HTTPSConnection if _URL.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(_URL.netloc, timeout=1.0)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        data = json.loads(response.read() or b"{}")
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{target}: {response.status} {data}")
    return data


def load_secret() -> None:
    value = aws_call("secretsmanager", "secretsmanager.GetSecretValue", {"SecretId": _ENV["OPSBOT_SECRET_ARN"]}, "1.1")
    _SECRET[:] = [json.loads(value["SecretString"])["signing_secret"].encode()]


def lambda_handler(event: dict, context: object) -> dict:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = __import__("base64").b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    stamp = headers.get("x-slack-request-timestamp", "0")
    mac = hmac.new(_SECRET[0], b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    signature = headers.get("x-slack-signature", "")
    if abs(time.time() - int(stamp)) > 300 or not hmac.compare_digest("v0=" + mac, signature):
        return {"statusCode": 401, "body": "invalid signature"}
    form = dict(urllib.parse.parse_qsl(body.decode()))
    job = {"command": form.get("command"), "text": form.get("text"), "user": form.get("user_id")}
    aws_call("sqs", "AmazonSQS.SendMessage", {"QueueUrl": _ENV["JOBS_QUEUE_URL"], "MessageBody": json.dumps(job)})
    return {"statusCode": 200, "body": json.dumps({"response_type": "ephemeral", "text": "queued"})}


if _ENV.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    __import__("snapshot_restore_py").register_after_restore(load_secret)
else:
    load_secret()
