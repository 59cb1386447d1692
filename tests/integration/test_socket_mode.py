"""Socket Mode: the ack's listeners over a WebSocket (the local Slack plays Slack's side), no public URL."""

from __future__ import annotations

import boto3
import pytest
from slack_sdk import WebClient

from infra.devstack.aws import FAKE_CREDENTIALS
from infra.devstack.socket_mode import LocalSocketModeServer, socket_mode_handler
from shared.jobs import JobEnvelope
from shared.queue import SqsJobQueue, sqs_client


@pytest.fixture
def socket_server(slack):
    server = LocalSocketModeServer().start()
    slack.socket_mode_url = server.url
    yield server
    server.stop()


def test_a_slash_command_over_socket_mode_is_acked_and_queued(socket_server, slack, moto_server, queues):
    sqs = sqs_client(
        "us-east-1", endpoint_url=moto_server.endpoint_url, session=boto3.session.Session(**FAKE_CREDENTIALS)
    )
    handler = socket_mode_handler(
        "xapp-1-test", SqsJobQueue(queues.queue_url, client=sqs), web_client=WebClient(base_url=slack.api_url)
    )
    handler.connect()
    try:
        assert socket_server.wait_connected()
        ack = socket_server.send_request(
            "slash_commands",
            {
                "command": "/deploy-status",
                "text": "payment",
                "team_id": "T1",
                "user_id": "U1",
                "channel_id": "C1",
                "response_url": "https://hooks.slack.com/commands/T1/1/x",
                "trigger_id": "1.2.3",
            },
        )
        bad = socket_server.send_request(
            "slash_commands",
            {
                "command": "/deploy-status",
                "text": "",
                "team_id": "T1",
                "user_id": "U1",
                "channel_id": "C1",
                "trigger_id": "1.2.4",
            },
        )
    finally:
        handler.close()

    assert ack is not None and "queued as job" in ack["text"]
    assert bad is not None and "Usage:" in bad["text"]
    [message] = sqs.receive_message(QueueUrl=queues.queue_url, WaitTimeSeconds=0)["Messages"]
    assert JobEnvelope.from_message(message["Body"]).display == "/deploy-status payment"
