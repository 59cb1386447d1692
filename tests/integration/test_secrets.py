"""Slack credentials from Secrets Manager (moto): the ack verifies with it, fails closed without it."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from ack_function.handler import AckFunction
from infra.devstack.aws import FAKE_CREDENTIALS, MotoServer, Queues, aws_client
from shared.aws_json import Credentials
from shared.settings import AckSettings
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext

SIGNING_SECRET = "from-secrets-manager-1f2e"


@pytest.fixture
def secret_arn(moto_server: MotoServer) -> str:
    sm = aws_client("secretsmanager", moto_server.endpoint_url)
    return sm.create_secret(Name=f"opsbot-slack-{uuid.uuid4().hex[:8]}", SecretString='{"signing_secret": ""}')["ARN"]


def ack_with(secret_arn: str, moto_server: MotoServer, queues: Queues) -> AckFunction:
    settings = AckSettings(
        secret_arn=secret_arn, jobs_queue_url=queues.queue_url, aws_endpoint_url=moto_server.endpoint_url
    )
    keys = Credentials(FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"])
    function = AckFunction(settings, session=boto3.session.Session(**FAKE_CREDENTIALS), credentials=lambda: keys)
    function.connect()
    return function


def test_an_empty_secret_refuses_every_request_then_a_set_secret_is_picked_up(secret_arn, moto_server, queues):
    function = ack_with(secret_arn, moto_server, queues)
    function.load_signing_secret()
    event = lambda: load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET)  # noqa: E731

    assert function(event(), FakeLambdaContext())["statusCode"] == 503  # fail closed, never unverified

    aws_client("secretsmanager", moto_server.endpoint_url).put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"signing_secret": SIGNING_SECRET, "bot_token": "xoxb-1"})
    )
    function.after_restore()  # a new execution environment (or the retry interval) reads it again

    response = function(event(), FakeLambdaContext())
    assert response["statusCode"] == 200 and "queued as job" in json.loads(response["body"])["text"]
    wrong = load_event("http_api_v2", slash_body("/ops-ping"), "not-the-secret")
    assert function(wrong, FakeLambdaContext())["statusCode"] == 401


def test_a_secret_that_cannot_be_read_fails_closed(moto_server, queues):
    function = ack_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing", moto_server, queues)
    function.load_signing_secret()

    event = load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET)
    assert function(event, FakeLambdaContext())["statusCode"] == 503


def test_the_worker_posts_with_the_bot_token_from_the_secret(harness, secret_arn):
    aws_client("secretsmanager", harness.moto.endpoint_url).put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"signing_secret": "s", "bot_token": "xoxb-test"})
    )
    job = harness.job("/ops-ping", response_url=None)

    harness.dispatcher(slack_bot_token=None, secret_arn=secret_arn).handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "chat.postMessage" and "pong" in message.text
