"""Slack credentials from Secrets Manager (moto): the ack verifies with it, fails closed without it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ack_function.handler import AckFunction
from infra.devstack.aws import FAKE_CREDENTIALS, MotoServer, Queues, aws_client
from shared.aws_json import Credentials
from shared.settings import AckSettings
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext
from worker_function.errors import TransientJobError

SIGNING_SECRET = "from-secrets-manager-1f2e"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def secret_arn(moto_server: MotoServer) -> str:
    sm = aws_client("secretsmanager", moto_server.endpoint_url)
    return sm.create_secret(Name=f"opsbot-slack-{uuid.uuid4().hex[:8]}", SecretString='{"signing_secret": ""}')["ARN"]


KEYS = Credentials(FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"])


def ack_with(secret_arn: str, moto_server: MotoServer, queues: Queues) -> AckFunction:
    settings = AckSettings(
        secret_arn=secret_arn, jobs_queue_url=queues.queue_url, aws_endpoint_url=moto_server.endpoint_url
    )
    function = AckFunction(settings, credentials=lambda: KEYS)
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


def test_a_secret_that_cannot_be_read_fails_closed_and_the_log_says_why(moto_server, queues, caplog):
    function = ack_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing", moto_server, queues)
    function.load_signing_secret()

    event = load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET)
    assert function(event, FakeLambdaContext())["statusCode"] == 503
    assert "ResourceNotFoundException" in caplog.text  # AWS's own error code, in the function's log


def test_a_secret_that_is_not_json_fails_closed_without_logging_its_value(secret_arn, moto_server, queues, caplog):
    aws_client("secretsmanager", moto_server.endpoint_url).put_secret_value(
        SecretId=secret_arn, SecretString="signing_secret=hunter2-not-json"
    )
    function = ack_with(secret_arn, moto_server, queues)
    function.load_signing_secret()

    event = load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET)
    assert function(event, FakeLambdaContext())["statusCode"] == 503
    logged = caplog.text
    assert "not the expected JSON (value: json_invalid)" in logged and "hunter2" not in logged


def test_the_secret_is_read_with_the_ack_s_own_sigv4_client_signed_by_its_credentials(secret_arn, moto_server, queues):
    put_signing_secret(secret_arn, moto_server)
    seen: list[str] = []

    def keys() -> Credentials:
        seen.append("resolved")
        return KEYS

    function = AckFunction(
        AckSettings(secret_arn=secret_arn, jobs_queue_url=queues.queue_url, aws_endpoint_url=moto_server.endpoint_url),
        credentials=keys,
    ).init()

    response = function(load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200 and "queued as job" in json.loads(response["body"])["text"]
    assert seen == ["resolved"]  # one lookup for the secret's read and the queue's connection


def test_the_worker_posts_with_the_bot_token_from_the_secret(harness, secret_arn):
    aws_client("secretsmanager", harness.moto.endpoint_url).put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"signing_secret": "s", "bot_token": "xoxb-test"})
    )
    job = harness.job("/ops-ping", response_url=None)

    harness.dispatcher(slack_bot_token=None, secret_arn=secret_arn).handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "chat.postMessage" and "pong" in message.text


def test_the_worker_reads_the_bot_token_when_a_job_first_calls_the_web_api_and_retries_a_failed_read(
    harness, secret_arn
):
    # Given a worker whose secret cannot be read as the Slack secret yet
    sm = aws_client("secretsmanager", harness.moto.endpoint_url)
    sm.put_secret_value(SecretId=secret_arn, SecretString="not json")
    worker = harness.dispatcher(slack_bot_token=None, secret_arn=secret_arn)

    # When a job answers through its response_url, then it is answered: the secret was never read
    answered = harness.job("/ops-ping")
    worker.handle_record(answered.to_message(), 1)
    [message] = harness.slack.messages(job=answered.job_id)
    assert message.kind == "response_url" and "pong" in message.text

    # When a job must post through the Web API, then the token's failed read is a retry for SQS, nothing posted
    posted = harness.job("/ops-ping", response_url=None)
    with pytest.raises(TransientJobError, match="bot token could not be read"):
        worker.handle_record(posted.to_message(), 1)
    assert harness.slack.messages(job=posted.job_id) == []

    # And once the secret holds the token, the retry reads it and posts with it
    sm.put_secret_value(SecretId=secret_arn, SecretString=json.dumps({"signing_secret": "s", "bot_token": "xoxb-test"}))
    worker.handle_record(posted.to_message(), 2)
    [message] = harness.slack.messages(job=posted.job_id)
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


def test_a_restore_reads_the_secret_with_the_credentials_of_after_the_restore(
    secret_arn, moto_server, queues, monkeypatch
):
    # Given a SnapStart init while the sandbox has one set of keys
    put_signing_secret(secret_arn, moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDBEFORESNAPSHOT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "before")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    function = AckFunction(snapshot_settings(secret_arn, moto_server, queues)).init()
    assert function.handler is None  # nothing read into the snapshot
    secrets = function._secrets
    assert secrets is not None and secrets._client._connection is None  # nor a connection

    # When the sandbox is restored with other keys (moto accepts any, and checks no signature)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDAFTERRESTORE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "after")
    function.after_restore()

    # Then the secret was read by a new client, with the keys of after the restore
    assert function._secrets is not secrets
    assert function._secrets is not None and function._secrets._client.credentials().access_key == "AKIDAFTERRESTORE"
    response = function(load_event("http_api_v2", slash_body("/ops-ping"), SIGNING_SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200 and "queued as job" in json.loads(response["body"])["text"]


def test_a_deployed_ack_loads_no_aws_sdk(secret_arn, moto_server, queues):
    # Given the environment the CDK stack sets: the secret by ARN, nothing in SLACK_SIGNING_SECRET
    put_signing_secret(secret_arn, moto_server)
    probe = (
        "import json, sys\n"
        "import ack_function.handler as h\n"
        "assert h._function is not None and h._function.handler is not None, 'the ack did not read its secret'\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "opsbot-test",
        "OPSBOT_SECRET_ARN": secret_arn,
        "JOBS_QUEUE_URL": queues.queue_url,
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        **{name.upper(): value for name, value in FAKE_CREDENTIALS.items()},
    }
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))

    # Then neither boto3 nor any of botocore (but the bare package Powertools' user-agent hook imports) is loaded
    assert not {name for name in loaded if name.split(".")[0] in ("boto3", "s3transfer", "urllib3")}
    assert not {name for name in loaded if name.startswith("botocore.")}
    assert "aws_lambda_powertools.utilities.parameters" not in loaded
