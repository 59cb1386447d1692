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


def snapshot_settings(secret_arn: str, moto_server: MotoServer, queues: Queues) -> AckSettings:
    return AckSettings(
        secret_arn=secret_arn,
        jobs_queue_url=queues.queue_url,
        aws_endpoint_url=moto_server.endpoint_url,
        initialization_type="snap-start",
    )


def put_signing_secret(secret_arn: str, moto_server: MotoServer) -> None:
    aws_client("secretsmanager", moto_server.endpoint_url).put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"signing_secret": SIGNING_SECRET, "bot_token": "xoxb-1"})
    )


def test_a_restore_reads_the_secret_through_the_init_session_with_credentials_resolved_after_it(
    secret_arn, moto_server, queues, monkeypatch
):
    # Given a SnapStart init while the sandbox has one set of keys, its Session recording what it signs
    put_signing_secret(secret_arn, moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDBEFORESNAPSHOT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "before")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    session = boto3.session.Session()
    signed: list[str] = []
    session.events.register(
        "before-send.secrets-manager", lambda request, **_: signed.append(str(request.headers["Authorization"]))
    )
    keys = Credentials(FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"])
    function = AckFunction(
        snapshot_settings(secret_arn, moto_server, queues), session=session, credentials=lambda: keys
    )
    function.init()
    assert function.handler is None and signed == []  # nothing read into the snapshot

    # When the sandbox is restored with other keys
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDAFTERRESTORE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "after")
    function.after_restore()

    # Then the secret was read once through the init's Session, signed with the keys of after the restore
    assert len(signed) == 1 and "Credential=AKIDAFTERRESTORE/" in signed[0], signed
    response = function(load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200 and "queued as job" in json.loads(response["body"])["text"]


def test_without_a_session_the_ack_makes_one_at_init_and_keeps_it_across_restores(
    secret_arn, moto_server, queues, monkeypatch
):
    put_signing_secret(secret_arn, moto_server)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    keys = Credentials(FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"])
    function = AckFunction(snapshot_settings(secret_arn, moto_server, queues), credentials=lambda: keys).init()
    made_at_init = function._session
    assert made_at_init is not None

    function.after_restore()
    function.after_restore()  # every restore of the same snapshot starts from the same Session

    assert function._session is made_at_init
    response = function(load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200
