"""pytest fixtures for a command's tests on the local AWS and Slack: in a plugin's conftest.py,

    pytest_plugins = ["opsbot_testkit.fixtures"]

gives `opsbot_harness` (a `Harness`: the worker as the Lambda builds it, under the IAM role the CDK app derives for
this inventory, on moto in server mode and the local Slack API; its inventory is the demo's plus the installed
plugins' demo targets) and fails a test whose functions made a call AWS would refuse (AccessDenied), even when the
code under test handled the error.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.devstack.aws import MotoServer, aws_client, provision_demo_ecs, provision_queues, provision_tables
from infra.devstack.codebuild import CodeBuildServer
from infra.devstack.demo import DemoTimings, demo_inventory_toml, plugin_demo_toml, script_demo_builds
from infra.devstack.jenkins import JenkinsServer
from infra.devstack.moto_iam import DENIALS_ENV
from infra.devstack.slack_api import SlackApiServer
from infra.devstack.slack_workspace import SlackChannel, Workspace
from opsbot_testkit.harness import Clock, Harness

#: The channels a harness job is asked from and answered in (the bot a member of each).
CHANNELS = ("C0OPS", "C0LOCALOPS", "C0APPROVALS", "C0INCIDENT")
#: The ECS cluster of the demo services on the session's moto.
CLUSTER = "cluster-testkit"


@pytest.fixture(scope="session")
def opsbot_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto in server mode for the session, every refusal of a function's role appended to a file of its own."""
    denials = str(tmp_path_factory.mktemp("opsbot-iam") / "denials.jsonl")
    recording = str(tmp_path_factory.mktemp("opsbot-moto") / "recording.jsonl")
    env = {"MOTO_ECS_SERVICE_RUNNING": "2", "MOTO_RECORDER_FILEPATH": recording, DENIALS_ENV: denials}
    with MotoServer(env=env) as server:
        provision_demo_ecs(aws_client("ecs", server.endpoint_url), cluster=CLUSTER)
        yield server


@pytest.fixture(scope="session")
def opsbot_inventory_toml(opsbot_moto: MotoServer) -> str:
    """The demo inventory on the session's cluster, plus the installed plugins' demo targets (provisioned)."""
    return demo_inventory_toml(CLUSTER) + plugin_demo_toml(opsbot_moto.endpoint_url, "us-east-1")


@pytest.fixture
def opsbot_harness(opsbot_moto: MotoServer, opsbot_inventory_toml: str) -> Iterator[Harness]:
    """A worker harness on fresh tables, queues and a strict local Slack; fails the test on an AccessDenied."""
    clock = Clock()
    suffix = uuid.uuid4().hex[:12]
    workspace = Workspace.of(SlackChannel(c, c.lower()) for c in CHANNELS)
    offset = _size(opsbot_moto.denials_path)
    with (
        SlackApiServer(token="xoxb-test", workspace=workspace) as slack,
        CodeBuildServer(clock=clock.time) as codebuild,
        JenkinsServer(clock=clock.time) as jenkins,
    ):
        script_demo_builds(codebuild, jenkins, DemoTimings(migration_s=60, regression_s=60))
        slack.limits.enabled = False  # a harness replays a job dozens of times in seconds
        yield Harness(
            moto=opsbot_moto,
            slack=slack,
            queues=provision_queues(
                aws_client("sqs", opsbot_moto.endpoint_url), name=f"jobs-{suffix}", visibility_timeout=1
            ),
            tables=provision_tables(
                aws_client("dynamodb", opsbot_moto.endpoint_url),
                idempotency=f"idem-{suffix}",
                leases=f"leases-{suffix}",
                audit=f"audit-{suffix}",
            ),
            cluster=CLUSTER,
            codebuild=codebuild,
            jenkins=jenkins,
            clock=clock,
            inventory_toml=opsbot_inventory_toml,
        )
    denied = _denials(opsbot_moto.denials_path, offset)
    if denied:
        pytest.fail("AccessDenied on AWS: " + "; ".join(denied), pytrace=False)


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


def _denials(path: str, offset: int) -> list[str]:
    if not os.path.exists(path):
        return []
    from infra.devstack.iam_policy import Denial

    with open(path, encoding="utf-8") as handle:
        handle.seek(offset)
        lines = [line for line in handle.read().splitlines() if line.strip()]
    found: list[Any] = [Denial(**json.loads(line)).message() for line in lines]
    return sorted(set(found))
