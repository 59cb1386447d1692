"""The ack's SQS and Secrets Manager clients over real HTTP: moto server, a container credentials endpoint, a
connection closed by SQS, a Secrets Manager that throttles."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.devstack.aws import MotoServer, Queues, aws_client
from shared.aws_json import (
    AwsCallError,
    CachedCredentials,
    Credentials,
    SecretsManagerClient,
    SqsSendClient,
    credentials_from_environment,
)

KEYS = Credentials("testing", "testing")


def sqs(moto_server: MotoServer, **options) -> SqsSendClient:
    return SqsSendClient("us-east-1", endpoint_url=moto_server.endpoint_url, credentials=lambda: KEYS, **options)


def test_a_message_sent_with_attributes_and_a_delay_arrives_as_sent(moto_server, queues: Queues):
    client = sqs(moto_server)
    attributes = {"job_id": {"DataType": "String", "StringValue": "j-1"}}

    result = client.send_message(QueueUrl=queues.queue_url, MessageBody='{"v": 1}', MessageAttributes=attributes)
    delayed = client.send_message(QueueUrl=queues.queue_url, MessageBody="later", DelaySeconds=60)

    boto = aws_client("sqs", moto_server.endpoint_url)
    [message] = boto.receive_message(QueueUrl=queues.queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=0)[
        "Messages"
    ]
    assert message["MessageId"] == result["MessageId"] and message["Body"] == '{"v": 1}'
    assert message["MessageAttributes"]["job_id"]["StringValue"] == "j-1"
    attrs = boto.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1" and delayed["MessageId"]


def test_a_missing_queue_is_an_error_with_its_code_and_certainly_not_sent(moto_server):
    missing = f"{moto_server.endpoint_url}/123456789012/no-such-queue"
    with pytest.raises(AwsCallError) as raised:
        sqs(moto_server).send_message(QueueUrl=missing, MessageBody="x")
    assert "NonExistentQueue" in raised.value.code or "QueueDoesNotExist" in raised.value.code
    assert raised.value.status == 400 and not raised.value.maybe_sent


class _JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON."""

    def answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """The handler on a free loopback port (its number), shut down afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()


class _Endpoint(_JsonHandler):
    """Plays Lambda's container credentials endpoint: checks the token, hands out keys that expire."""

    served: list[str] = []
    expiration = datetime.now(UTC) + timedelta(hours=1)

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "the-token":
            self.send_response(403)
            self.end_headers()
            return
        n = len(self.served) + 1
        self.served.append(self.path)
        keys = {"AccessKeyId": f"ASIA{n}", "SecretAccessKey": "secret", "Token": f"session-{n}"}
        self.answer(200, {**keys, "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")})


@pytest.fixture
def container_endpoint() -> Iterator[str]:
    _Endpoint.served = []
    with _serving(_Endpoint) as port:
        yield f"http://127.0.0.1:{port}/2018-06-01/credentials"


def test_snapstart_credentials_come_from_the_container_endpoint_and_are_renewed_before_they_expire(
    moto_server, queues, container_endpoint
):
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "the-token"}
    now = [datetime.now(UTC).timestamp()]
    client = SqsSendClient(
        "us-east-1",
        endpoint_url=moto_server.endpoint_url,
        credentials=lambda: credentials_from_environment(env),
        clock=lambda: now[0],
    )

    client.send_message(QueueUrl=queues.queue_url, MessageBody="one")
    client.send_message(QueueUrl=queues.queue_url, MessageBody="two")
    assert _Endpoint.served == ["/2018-06-01/credentials"]  # cached while valid

    now[0] = _Endpoint.expiration.timestamp() - 60  # within the refresh margin
    client.send_message(QueueUrl=queues.queue_url, MessageBody="three")
    assert len(_Endpoint.served) == 2


def test_a_wrong_container_token_is_a_clear_error(container_endpoint):
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "stolen"}
    with pytest.raises(AwsCallError, match="answered 403"):
        credentials_from_environment(env)


class _KeepAliveThenDrop(BaseHTTPRequestHandler):
    """Answers SendMessage over HTTP/1.1 keep-alive, then drops the connection as an idle SQS connection is."""

    protocol_version = "HTTP/1.1"
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"MessageId": f"m-{len(self.bodies)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # the client is not told: its next request meets a closed connection

    def log_message(self, *args) -> None:
        pass


def test_a_kept_alive_connection_closed_by_sqs_is_opened_again():
    _KeepAliveThenDrop.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveThenDrop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = SqsSendClient(
            "us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_port}", credentials=lambda: KEYS
        )
        first = client.send_message(QueueUrl="q", MessageBody="first")
        second = client.send_message(QueueUrl="q", MessageBody="second")
    finally:
        server.shutdown()
    assert (first["MessageId"], second["MessageId"]) == ("m-1", "m-2")
    assert [json.loads(b)["MessageBody"] for b in _KeepAliveThenDrop.bodies] == ["first", "second"]


def test_warming_opens_the_connection_the_first_send_then_uses(moto_server, queues):
    client = sqs(moto_server)
    assert client.warm()
    warmed = client._client._connection
    assert warmed is not None and warmed.sock is not None
    socket_warmed = warmed.sock

    result = client.send_message(QueueUrl=queues.queue_url, MessageBody="first")  # over the warmed connection

    # Used and kept (the local moto server keeps connections alive): no second connection was opened.
    assert client._client._connection is warmed and warmed.sock is socket_warmed
    boto = aws_client("sqs", moto_server.endpoint_url)
    [message] = boto.receive_message(QueueUrl=queues.queue_url, WaitTimeSeconds=0)["Messages"]
    assert message["MessageId"] == result["MessageId"]


def test_warming_against_a_dead_endpoint_is_false_and_the_send_still_says_why():
    client = SqsSendClient(
        "us-east-1", endpoint_url="http://127.0.0.1:9", credentials=lambda: KEYS, connect_timeout=0.5
    )
    assert client.warm() is False
    with pytest.raises(AwsCallError, match="could not connect") as raised:
        client.send_message(QueueUrl="q", MessageBody="x")
    assert not raised.value.maybe_sent


def test_one_client_shared_by_threads_sends_every_message_once(moto_server, queues):
    client = sqs(moto_server)
    bodies = [f"m-{i}" for i in range(40)]
    threads = [
        threading.Thread(target=lambda b=b: client.send_message(QueueUrl=queues.queue_url, MessageBody=b))
        for b in bodies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    boto = aws_client("sqs", moto_server.endpoint_url)
    received: list[str] = []
    while batch := boto.receive_message(QueueUrl=queues.queue_url, MaxNumberOfMessages=10).get("Messages"):
        received += [m["Body"] for m in batch]
        boto.delete_message_batch(
            QueueUrl=queues.queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    assert sorted(received) == sorted(bodies)


def test_a_secret_is_read_from_moto_with_boto3_s_arguments_and_result(moto_server):
    arn = aws_client("secretsmanager", moto_server.endpoint_url).create_secret(
        Name="aws-json-read", SecretString='{"signing_secret": "s3cr3t"}'
    )["ARN"]
    client = SecretsManagerClient("us-east-1", endpoint_url=moto_server.endpoint_url, credentials=lambda: KEYS)

    result = client.get_secret_value(SecretId=arn)

    assert result["ARN"] == arn and json.loads(result["SecretString"]) == {"signing_secret": "s3cr3t"}


class _FlakySecrets(_JsonHandler):
    """Plays Secrets Manager: answers each GetSecretValue with the next of `answers` (status, error code or None)."""

    answers: list[tuple[int, str | None]] = []
    targets: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.targets.append(self.headers["X-Amz-Target"])
        status, code = self.answers.pop(0)
        self.answer(status, {"__type": code, "message": "try later"} if code else {"SecretString": "{}", "Name": "x"})


@pytest.fixture
def flaky_secrets() -> Iterator[SecretsManagerClient]:
    _FlakySecrets.targets = []
    with _serving(_FlakySecrets) as port:
        yield SecretsManagerClient("us-east-1", endpoint_url=f"http://127.0.0.1:{port}", credentials=lambda: KEYS)


def test_a_throttled_or_failed_secret_read_is_tried_once_more(flaky_secrets):
    _FlakySecrets.answers = [(400, "ThrottlingException"), (200, None)]
    assert flaky_secrets.get_secret_value(SecretId="x")["SecretString"] == "{}"

    _FlakySecrets.answers = [(500, "InternalServiceError"), (500, "InternalServiceError")]
    with pytest.raises(AwsCallError, match="InternalServiceError"):
        flaky_secrets.get_secret_value(SecretId="x")
    assert _FlakySecrets.targets == ["secretsmanager.GetSecretValue"] * 4  # two attempts each, never more


def test_a_denied_secret_read_is_not_tried_again_and_says_why(flaky_secrets):
    _FlakySecrets.answers = [(400, "AccessDeniedException")]
    with pytest.raises(AwsCallError, match="GetSecretValue: AccessDeniedException: try later") as raised:
        flaky_secrets.get_secret_value(SecretId="x")
    assert raised.value.code == "AccessDeniedException" and len(_FlakySecrets.targets) == 1


def test_clients_sharing_cached_credentials_resolve_them_once(moto_server, queues, container_endpoint):
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "the-token"}
    shared = CachedCredentials(lambda: credentials_from_environment(env))
    queue = SqsSendClient("us-east-1", endpoint_url=moto_server.endpoint_url, credentials=shared)
    secrets = SecretsManagerClient("us-east-1", endpoint_url=moto_server.endpoint_url, credentials=shared)

    assert queue.warm()
    with pytest.raises(AwsCallError, match="ResourceNotFoundException"):
        secrets.get_secret_value(SecretId="no-such-secret")

    assert _Endpoint.served == ["/2018-06-01/credentials"]
