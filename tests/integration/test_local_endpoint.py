"""`opsbot local --aws-endpoint URL --inventory FILE`: the stack against an AWS endpoint already running (here
a moto server of the test's own), with the user's inventory and its [policy]."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.cli.main import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from infra.devstack.aws import DEMO_CLUSTER, JOBS_QUEUE, MotoServer, aws_client
from infra.devstack.demo import demo_inventory_toml
from shared.settings import AUDIT_TABLE, IDEMPOTENCY_TABLE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("ack_function.handler") is None, reason="the ack function is not written yet"
    ),
]

ROOT = Path(__file__).resolve().parents[2]

#: The demo targets, with a policy of the user's: only U0SRE may restart on prod, from anywhere.
USER_INVENTORY = demo_inventory_toml(DEMO_CLUSTER).split("[policy]")[0] + (
    """
[policy]
contact = "#platform-team"

[[policy.rules]]
name = "sre-restart-prod"
commands = ["/ops-restart"]
environments = ["prod"]
users = ["U0SRE"]
ask = "#platform-team"
"""
)


def opsbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args], capture_output=True, text=True, timeout=90, cwd=ROOT, env=env
    )


@pytest.fixture(scope="module")
def own_moto() -> Iterator[MotoServer]:
    # A user's own moto; with this variable moto reports a service's tasks running (a rollout completes).
    with MotoServer(env={"MOTO_ECS_SERVICE_RUNNING": "2"}) as moto:
        yield moto


@pytest.fixture(scope="module")
def stack(own_moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """`opsbot local` against `own_moto` with the user's inventory; yields the CLI's environment and state."""
    home = tmp_path_factory.mktemp("endpoint")
    inventory = home / "inventory.toml"
    inventory.write_text(USER_INVENTORY)
    state = home / "local.json"
    env = {k: v for k, v in os.environ.items() if k != "SLACK_SIGNING_SECRET"} | {"XDG_CACHE_HOME": str(home)}
    args = ["--port", "0", "--quiet", "--state", str(state), "--aws-endpoint", own_moto.endpoint_url]
    local = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", *args, "--inventory", str(inventory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while not state.exists():
            assert local.poll() is None, local.communicate()
            assert time.monotonic() < deadline, "opsbot local did not write its state file"
            time.sleep(0.1)
        yield env, state
    finally:
        local.send_signal(signal.SIGTERM)
        local.communicate(timeout=60)


def test_the_stack_provisions_the_given_endpoint_and_its_jobs_land_there(own_moto, stack):
    env, state = stack
    recorded = json.loads(state.read_text())

    sent = opsbot(env, "send", "/deploy-status payment", "--state", str(state), "--json")

    assert recorded["endpoint_url"] == own_moto.endpoint_url
    assert sent.returncode == EXIT_OK, sent.stdout + sent.stderr
    job = json.loads(sent.stdout)["job"]
    sqs = aws_client("sqs", own_moto.endpoint_url)
    assert any(url.endswith(f"/{JOBS_QUEUE}") for url in sqs.list_queues()["QueueUrls"])
    dynamodb = aws_client("dynamodb", own_moto.endpoint_url)
    idempotency = dynamodb.scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert any(item["status"]["S"] == "COMPLETED" for item in idempotency)
    audit = dynamodb.scan(TableName=AUDIT_TABLE)["Items"]
    assert any(item["job_id"]["S"].startswith(job) for item in audit)
    services = aws_client("ecs", own_moto.endpoint_url).list_services(cluster=DEMO_CLUSTER)["serviceArns"]
    assert len(services) == 2  # the demo resources for the demo targets


def test_the_users_policy_applies(stack):
    env, state = stack

    denied = opsbot(env, "send", "/ops-restart payment", "--state", str(state))
    admitted = opsbot(env, "send", "/ops-restart payment", "--state", str(state), "--user", "U0SRE", "--timeout", "60")

    assert denied.returncode == EXIT_REFUSED, denied.stdout + denied.stderr
    assert "denied by rule `sre-restart-prod`" in denied.stdout
    assert admitted.returncode == EXIT_OK, admitted.stdout + admitted.stderr


def test_a_bad_inventory_or_a_dead_endpoint_is_refused_before_anything_starts(tmp_path):
    bad = tmp_path / "inventory.toml"
    bad.write_text(USER_INVENTORY.replace('"/ops-restart"]', '"/ops-restrat"]'))
    env = dict(os.environ) | {"XDG_CACHE_HOME": str(tmp_path)}
    port = MotoServer().port  # a free port nothing listens on

    inventory = opsbot(env, "local", "--port", "0", "--inventory", str(bad))
    endpoint = opsbot(env, "local", "--port", "0", "--aws-endpoint", f"http://127.0.0.1:{port}")

    assert inventory.returncode == EXIT_USAGE
    assert "--inventory:" in inventory.stderr and "/ops-restrat" in inventory.stderr
    assert endpoint.returncode != 0 and f"the AWS endpoint http://127.0.0.1:{port} does not answer" in endpoint.stderr
    assert list(tmp_path.glob("opsbot/*.json")) == []
