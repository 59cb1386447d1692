"""The ack function behind the local ingress, sending to SQS for real: moto, a hanging SQS, a dead SQS."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import boto3
import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from infra.devstack.aws import FAKE_CREDENTIALS, MotoServer, Queues, aws_client
from infra.devstack.fault_proxy import FaultProxy, Rule
from infra.devstack.ingress import Ingress
from infra.devstack.slack_request import SignedRequest, SlashCommand, post, sign, signed_slash_command
from shared.aws_json import Credentials, SqsSendClient
from shared.commands.builtin.restart import RestartArgs
from shared.errors import EnqueueError
from shared.jobs import JobEnvelope, Requester, utcnow
from shared.queue import SqsJobQueue, sqs_client
from shared.settings import AckSettings

SECRET = "integration-secret"


def ingress_for(queue_url: str, endpoint_url: str) -> Ingress:
    settings = AckSettings(slack_signing_secret=SECRET, jobs_queue_url=queue_url, aws_endpoint_url=endpoint_url)
    keys = Credentials(FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"])
    client = SqsSendClient(  # what the ack function builds
        settings.aws_region,
        endpoint_url=endpoint_url,
        connect_timeout=settings.enqueue_connect_timeout_s,
        read_timeout=settings.enqueue_read_timeout_s,
        credentials=lambda: keys,
    )
    bolt = SlackRequestHandler(build_app(SECRET, SqsJobQueue(queue_url, client=client)))
    return Ingress(lambda event, context: handle(bolt, event, context)).start()


@pytest.fixture
def ingress(moto_server: MotoServer, queues: Queues) -> Iterator[Ingress]:
    server = ingress_for(queues.queue_url, moto_server.endpoint_url)
    yield server
    server.stop()


def queued_messages(moto_server: MotoServer, queue_url: str) -> list[dict]:
    sqs = aws_client("sqs", moto_server.endpoint_url)
    return sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])


def ack_text(result) -> str:
    assert result.status == 200, result
    return str(json.loads(result.body)["text"])


def test_a_valid_command_is_in_the_queue_when_the_ack_says_queued(ingress, moto_server, queues):
    result = post(ingress.events_url, signed_slash_command(SlashCommand("/deploy-status", "payment"), SECRET))

    [message] = queued_messages(moto_server, queues.queue_url)
    job = JobEnvelope.from_message(message["Body"])
    assert f"queued as job `{job.short_id}`" in ack_text(result)
    assert job.display == "/deploy-status payment"
    assert message["MessageAttributes"]["job_id"]["StringValue"] == job.job_id
    assert message["MessageAttributes"]["kind"]["StringValue"] == "deploy_status"


BAD_REQUESTS = {
    "bad-signature": lambda: SignedRequest(
        body=(b := SlashCommand("/ops-ping").form_body()),
        headers={**sign(b, "wrong-secret"), "Content-Type": "application/x-www-form-urlencoded"},
    ),
    "stale-timestamp": lambda: signed_slash_command(
        SlashCommand("/ops-ping"), SECRET, timestamp=int(time.time()) - 600
    ),
    "missing-headers": lambda: SignedRequest(
        body=SlashCommand("/ops-ping").form_body(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    ),
    "malformed-body": lambda: SignedRequest(
        body=(b := b'{"type": "event_callback", "event": '),
        headers={**sign(b, SECRET), "Content-Type": "application/json"},
    ),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_a_request_that_fails_verification_or_parsing_is_refused_and_nothing_is_queued(
    name, ingress, moto_server, queues
):
    result = post(ingress.events_url, BAD_REQUESTS[name]())

    assert result.status in (400, 401), result
    assert queued_messages(moto_server, queues.queue_url) == []


@pytest.mark.parametrize(
    ("command", "text", "says"), [("/deploy-status", "", "Usage:"), ("/ops-nope", "", "I don't know")]
)
def test_bad_commands_get_ephemeral_help_and_nothing_is_queued(command, text, says, ingress, moto_server, queues):
    result = post(ingress.events_url, signed_slash_command(SlashCommand(command, text), SECRET))

    assert says in ack_text(result)
    assert json.loads(result.body)["response_type"] == "ephemeral"
    assert queued_messages(moto_server, queues.queue_url) == []


@pytest.fixture
def hanging_sqs() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: SQS hanging."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def dead_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("dead", "nothing was run"),  # never reached: certainly not queued
        ("hanging", "may or may not be queued"),  # sent, no answer: it may be queued; never a false claim
    ],
)
def test_an_sqs_that_hangs_or_is_down_is_answered_honestly_within_the_deadline(endpoint, says, request):
    url = request.getfixturevalue("hanging_sqs") if endpoint == "hanging" else dead_port()
    server = ingress_for(f"{url}/123456789012/opsbot-jobs", url)
    try:
        result = post(server.events_url, signed_slash_command(SlashCommand("/ops-ping"), SECRET), timeout=5)
    finally:
        server.stop()

    text = ack_text(result)
    assert says in text and "queued as job" not in text
    assert result.latency_ms < 2500, result.latency_ms


@pytest.mark.parametrize(("when", "took"), [("after", 1), ("before", 0)])
def test_a_connection_closed_before_sqs_answered_says_it_may_be_queued(when, took, moto_server, queues):
    """botocore raises `ConnectionClosedError` for a connection that drops while the request is sent or its answer
    awaited (urllib3's ProtocolError): whether SQS took the message (reset after it did) or not (reset before it
    was forwarded) cannot be told apart by the client, so it may be queued, never "nothing was run"."""
    proxy = FaultProxy([Rule("reset", service="sqs", action="SendMessage", when=when)])
    try:
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        client = sqs_client("us-east-1", endpoint_url=proxy.front("aws", moto_server.endpoint_url), session=session)
        with pytest.raises(EnqueueError) as raised:
            SqsJobQueue(queues.queue_url, client=client).send(restart_job())
    finally:
        proxy.close()

    assert raised.value.maybe_queued  # before: False, and the ack said "nothing was run" of a queued job
    queued = aws_client("sqs", moto_server.endpoint_url).receive_message(QueueUrl=queues.queue_url).get("Messages", [])
    assert len(queued) == took


@pytest.mark.parametrize(("when", "took"), [("after", 1), ("before", 0)])
def test_an_sqs_5xx_says_it_may_be_queued(when, took, moto_server, queues):
    """A 5xx is SQS's own trouble, not a refusal: the request may have been processed (chaos seed 544: SendMessage
    answered 503 after SQS took the job's copy, and the worker took it for "not queued"). Whether SQS took it
    cannot be told from the answer, so it may be queued."""
    proxy = FaultProxy([Rule("error", service="sqs", action="SendMessage", when=when)])
    try:
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        client = sqs_client("us-east-1", endpoint_url=proxy.front("aws", moto_server.endpoint_url), session=session)
        with pytest.raises(EnqueueError) as raised:
            SqsJobQueue(queues.queue_url, client=client).send(restart_job())
    finally:
        proxy.close()

    assert raised.value.maybe_queued  # before: False
    queued = aws_client("sqs", moto_server.endpoint_url).receive_message(QueueUrl=queues.queue_url).get("Messages", [])
    assert len(queued) == took


def test_a_connection_that_never_opened_says_nothing_was_queued(queues):
    session = boto3.session.Session(**FAKE_CREDENTIALS)
    client = sqs_client("us-east-1", endpoint_url=dead_port(), session=session)
    with pytest.raises(EnqueueError) as raised:
        SqsJobQueue(queues.queue_url, client=client).send(restart_job())
    assert not raised.value.maybe_queued


def restart_job() -> JobEnvelope:
    return JobEnvelope(
        job_id="0123456789abcdef0123456789abcdef",
        command="/ops-restart",
        text="payment",
        args=RestartArgs(target="payment"),
        requester=Requester(user_id="U0BOB", team_id="T1", channel_id="C1"),
        issued_at=utcnow(),
        correlation_id="c",
    )
