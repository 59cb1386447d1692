"""The ack under moto's in-process mock (`moto.mock_aws`), the ecosystem's usual way to test Lambda code: its
SendMessage reaches moto's queue and its secret is read from moto's Secrets Manager (the hand-written clients hand
their calls to botocore while the mock is on)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from ack_function.handler import AckFunction
from shared.aws_json import AwsCallError, SecretsManagerClient, SqsSendClient, in_process_mock_active
from shared.settings import AckSettings
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext

SECRET = "mock-aws-signing-secret"
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def _queue_and_secret() -> tuple[str, str]:
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="opsbot-jobs")["QueueUrl"]
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="opsbot/slack", SecretString=json.dumps({"signing_secret": SECRET})
    )["ARN"]
    return queue_url, arn


def _received(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name=REGION)
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )


def test_given_mock_aws_when_a_signed_command_is_handled_then_its_job_is_in_moto_s_queue(aws):
    queue_url, arn = _queue_and_secret()
    settings = AckSettings.model_validate({"OPSBOT_SECRET_ARN": arn, "JOBS_QUEUE_URL": queue_url})
    ack = AckFunction(settings).init()

    response = ack(load_event("http_api_v2", slash_body("/ops-ping"), SECRET), FakeLambdaContext())

    assert response["statusCode"] == 200, response
    assert "queued as job" in json.loads(response["body"])["text"]
    [message] = _received(queue_url)
    assert json.loads(message["Body"])["command"] == "/ops-ping"
    assert message["MessageAttributes"]["kind"]["StringValue"]


def test_a_client_built_before_the_mock_started_still_reaches_moto():
    client = SqsSendClient(REGION)  # as the ack's init builds it, at import
    with mock_aws():
        queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="q")["QueueUrl"]
        result = client.send_message(QueueUrl=queue_url, MessageBody="hello")
        assert result["MessageId"]
        assert [m["Body"] for m in _received(queue_url)] == ["hello"]
    assert not in_process_mock_active()


def test_an_error_from_moto_is_an_aws_call_error_with_its_code_and_not_sent(aws):
    client = SqsSendClient(REGION)
    missing = f"https://sqs.{REGION}.amazonaws.com/123456789012/no-such-queue"

    with pytest.raises(AwsCallError) as raised:
        client.send_message(QueueUrl=missing, MessageBody="x")

    assert "NonExistentQueue" in raised.value.code or "QueueDoesNotExist" in raised.value.code
    assert raised.value.maybe_sent is False


def test_with_an_endpoint_the_client_speaks_http_itself_even_under_the_mock(aws):
    client = SqsSendClient(REGION, endpoint_url="http://127.0.0.1:9", connect_timeout=0.2)

    with pytest.raises(AwsCallError, match="could not connect"):
        client.send_message(QueueUrl="http://127.0.0.1:9/123456789012/q", MessageBody="x")


def test_under_the_mock_a_missing_secret_is_an_aws_call_error_with_its_code(aws):
    _queue_and_secret()
    client = SecretsManagerClient(REGION)

    assert '"signing_secret"' in client.get_secret_value(SecretId="opsbot/slack")["SecretString"]
    with pytest.raises(AwsCallError) as raised:
        client.get_secret_value(SecretId="opsbot/no-such-secret")
    assert raised.value.code == "ResourceNotFoundException"
