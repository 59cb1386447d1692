"""The local stack wires ingress -> ack -> SQS (moto) -> poller -> worker -> local Slack, gives each
function only its own environment at cold start, and cleans up after itself."""

from __future__ import annotations

import os
import sys

import pytest

from infra.devstack.client import run_command
from infra.devstack.stack import BOT_TOKEN, LocalStack
from infra.devstack.state import read_state

pytestmark = pytest.mark.integration

PROBES = "tests.integration.probes"
WATCHED = ("JOBS_QUEUE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "AWS_ENDPOINT_URL", "OPSBOT_LOCAL_MODE")


def test_stack_carries_a_command_to_its_final_message_and_cleans_up(tmp_path):
    before = {name: os.environ.get(name) for name in WATCHED}
    state_path = tmp_path / "local.json"
    printed: list[str] = []

    with LocalStack(
        port=0, state_path=state_path, ack_module=f"{PROBES}.ack_probe", worker_module=f"{PROBES}.worker_probe"
    ) as stack:
        written, current = read_state(state_path), stack.state
        outcome = run_command("/ops-ping now", stack.target, timeout=20, emit=printed.append)
        ack_env = sys.modules[f"{PROBES}.ack_probe"].ENV
        worker_env = sys.modules[f"{PROBES}.worker_probe"].ENV
        poller = stack.poller

    assert poller is not None and poller.stats.deleted == 1  # stop() waited for the batch to settle
    assert written == current and current.pid == os.getpid()
    assert outcome.ok, printed
    assert [(m.kind, m.final) for m in outcome.messages] == [("response_url", False), ("chat.postMessage", True)]
    assert outcome.messages[1].channel == "C0LOCALOPS"
    assert "SLACK_BOT_TOKEN" not in ack_env and ack_env["SLACK_SIGNING_SECRET"] == stack.signing_secret
    assert worker_env["SLACK_BOT_TOKEN"] == BOT_TOKEN and "SLACK_SIGNING_SECRET" not in worker_env
    assert worker_env["OPSBOT_LOCAL_MODE"] == "1" and worker_env["JOBS_DLQ_URL"].endswith("opsbot-jobs-dlq")
    assert not state_path.exists()
    assert {name: os.environ.get(name) for name in WATCHED} == before
