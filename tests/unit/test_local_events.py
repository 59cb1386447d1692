"""Events built by the local stack have the shapes AWS gives them (checked with Powertools' models and Bolt)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SqsModel
from slack_sdk.signature import SignatureVerifier

from ack_function.adapter import to_bolt_request
from infra.devstack.events import LambdaContext, http_api_event, is_text_content_type, sqs_lambda_event
from infra.devstack.slack_request import SlashCommand, sign, signed_slash_command

NOW = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


def test_form_body_is_base64_and_bolt_reads_it_back_verifiably():
    request = signed_slash_command(SlashCommand(command="/ops-ping", text="1 2"), "s3cret")

    event = http_api_event("POST", "/slack/events", request.headers, request.body, now=NOW, request_id="r1")

    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == request.body
    bolt = to_bolt_request(event)
    assert bolt.body["command"] == "/ops-ping" and bolt.body["text"] == "1 2"
    assert SignatureVerifier("s3cret").is_valid_request(bolt.raw_body, event["headers"])


def test_http_api_event_fields():
    event = http_api_event(
        "post",
        "/slack/events?a=1&a=2&b=",
        [("Content-Type", "application/json"), ("X-Dup", "1"), ("x-dup", "2"), ("Cookie", "c1=1; c2=2")],
        b'{"type": "url_verification"}',
        now=NOW,
        request_id="req-1",
        source_ip="10.0.0.9",
    )

    assert event["version"] == "2.0"
    assert event["rawPath"] == "/slack/events" and event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["headers"]["x-dup"] == "1,2" and "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=1", "c2=2"]
    assert event["headers"]["x-forwarded-for"] == "10.0.0.9"
    assert event["isBase64Encoded"] is False and event["body"] == '{"type": "url_verification"}'
    ctx = event["requestContext"]
    assert ctx["http"] == {
        "method": "POST",
        "path": "/slack/events",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.0.0.9",
        "userAgent": "",
    }
    assert ctx["requestId"] == "req-1" and ctx["timeEpoch"] == int(NOW.timestamp() * 1000)
    assert ctx["time"] == "27/Nov/2026:08:00:00 +0000"
    assert http_api_event("post", "/slack/events?a=1", {}, b"{}", now=NOW, request_id="req-1") == http_api_event(
        "post", "/slack/events?a=1", {}, b"{}", now=NOW, request_id="req-1"
    )


def test_event_without_body_has_no_body_field():
    event = http_api_event("GET", "/health", {}, b"", now=NOW)

    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event and "cookies" not in event


def test_text_content_types():
    assert is_text_content_type("application/json; charset=utf-8")
    assert is_text_content_type("text/plain")
    assert not is_text_content_type("application/x-www-form-urlencoded")
    assert not is_text_content_type("")


def sqs_message(body: str, receive_count: int = 1) -> dict:
    return {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "SentTimestamp": "1545082649183",
            "ApproximateReceiveCount": str(receive_count),
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "MessageAttributes": {
            "job_id": {"StringValue": "abc", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }


def test_sqs_event_matches_the_event_source_mapping():
    event = sqs_lambda_event([sqs_message("hello", 2)], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")

    SqsModel.model_validate(event)
    [record] = event["Records"]
    assert record["messageId"] == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"]["job_id"] == {
        "stringValue": "abc",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01").decode()
    parsed = next(iter(SQSEvent(event).records))
    assert parsed.body == "hello" and parsed.attributes.approximate_receive_count == "2"


def test_lambda_context_counts_down_to_its_deadline():
    context = LambdaContext(function_name="f", timeout_s=0.05)

    first = context.get_remaining_time_in_millis()
    time.sleep(0.06)

    assert 0 < first <= 50
    assert context.get_remaining_time_in_millis() == 0
    assert context.invoked_function_arn.endswith(":function:f")


def test_signature_matches_slacks_documented_example():
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )

    headers = sign(body, "8f742231b10e8888abcd99yyyzzz85a5", timestamp=1531420618)

    assert headers == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }


def test_each_slash_command_gets_its_own_trigger_id():
    first, second = SlashCommand(command="/x"), SlashCommand(command="/x")

    assert first.trigger_id != second.trigger_id
    assert len(first.trigger_id.split(".")) == 3
