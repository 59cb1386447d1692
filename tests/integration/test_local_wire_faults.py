"""`opsbot local --aws-endpoint URL --faults RULES`: the whole local stack (signed Slack request, ack, SQS, the
poller playing Lambda's event source, the worker) against an AWS endpoint, the worker's calls through the fault
proxy. DynamoDB's writes fail for a while right after `/ops-restart payment`'s UpdateService: one forced
deployment, and exactly one "completed" to the requester (late is acceptable; none is not)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.devstack.aws import DEMO_CLUSTER, MotoServer
from infra.devstack.client import run_command
from infra.devstack.demo import demo_inventory_toml
from infra.devstack.stack import LocalStack
from opsbot_testkit.faults import visible_final_messages

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("ack_function.handler") is None, reason="the ack function is not written yet"
    ),
]


@pytest.fixture(scope="module")
def own_moto() -> Iterator[MotoServer]:
    with MotoServer(env={"MOTO_ECS_SERVICE_RUNNING": "2"}) as moto:
        yield moto


@pytest.mark.timeout(600)
@pytest.mark.parametrize("down_s", [8, 60])
def test_dynamodb_writes_failing_after_update_service_give_one_deployment_and_one_completed(
    own_moto, tmp_path: Path, down_s: int
):
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(demo_inventory_toml(DEMO_CLUSTER))
    rules = f"service=dynamodb,action=write,mode=error,for={down_s},trigger=ecs.UpdateService"
    printed: list[str] = []
    with LocalStack(port=0, aws_endpoint=own_moto.endpoint_url, inventory_path=inventory, faults=rules) as stack:
        proxy = stack.fault_proxy
        assert proxy is not None
        outcome = run_command("/ops-restart payment", stack.target, timeout=480, emit=printed.append)
        time.sleep(8)  # a second answer, if any, would come in this time (the poller runs on)
        records = stack.slack.messages(job=outcome.job) if outcome.job else []
        deployments = proxy.seen("UpdateService", needle='"forceNewDeployment": true')
        faulted = [c for c in proxy.calls if c.fault is not None]

    assert faulted, "the fault never fired"
    assert len(deployments) == 1, [(c.index, c.attempt, c.fault) for c in deployments]
    assert outcome.ok, "\n".join(printed)
    finals = [m.text for m in records if m.final]
    assert visible_final_messages(records) == 1 and "completed" in finals[-1], finals
