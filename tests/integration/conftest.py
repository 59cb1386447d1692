"""Shared fixtures: one moto server per session (a real subprocess on loopback), a local Slack per test."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.devstack.aws import (
    MotoServer,
    Queues,
    Tables,
    aws_client,
    provision_demo_ecs,
    provision_queues,
    provision_tables,
)
from infra.devstack.slack_api import SlackApiServer
from infra.devstack.slack_workspace import SlackChannel, Workspace

#: The channels the integration tests post in: public, the bot a member of each (a test that needs a private
#: channel, one the bot is not in or an archived one adds it to its server's workspace).
TEST_CHANNELS = (
    "C0OPS",
    "C0LOCALOPS",
    "C0APPROVALS",
    "C0INCIDENT",
    "C0ALERTS",
    "C0THREAD",
    "C123",
    "C0BENCH",
    "C1",
    "C7",
    "C9",
)


def gone_and_stuck_toml(cluster: str) -> str:
    """An inventory of two ECS targets for the tests of a failing target: `gone`, whose service does not exist, and
    `stuck`, whose service a test creates with a rollout that never completes. One inventory for both tests: the
    worker's role is synthesized once per inventory (a CDK synth, 10 s to a minute)."""
    return (
        f'[targets.gone]\necs = {{ cluster = "{cluster}", service = "gone" }}\n\n'
        f'[targets.stuck]\necs = {{ cluster = "{cluster}", service = "stuck" }}\n'
    )


def workspace_for_tests() -> Workspace:
    """The workspace of the tests' local Slack: `TEST_CHANNELS`, the scopes `opsbot manifest` requests."""
    return Workspace.of(SlackChannel(c, c.lower()) for c in TEST_CHANNELS)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault-injection harness's table (tests/integration/test_exactly_once.py), when it ran."""
    from opsbot_testkit.faults import REPORT

    for line in REPORT:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def iam_denials_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every moto server of this session (the shared one, each LocalStack's) appends here each call it refused
    to a function's role (infra/devstack/moto_iam.py)."""
    from infra.devstack.moto_iam import DENIALS_ENV

    path = str(tmp_path_factory.mktemp("iam") / "denials.jsonl")
    saved = os.environ.get(DENIALS_ENV)
    os.environ[DENIALS_ENV] = path
    yield path
    if saved is None:
        os.environ.pop(DENIALS_ENV, None)
    else:
        os.environ[DENIALS_ENV] = saved


@pytest.fixture(autouse=True)
def no_iam_denials(request: pytest.FixtureRequest, iam_denials_file: str) -> Iterator[None]:
    """A call AWS would refuse is a red test naming the role, the action and the resource, even when the code
    under test handled the error (a job told "failed" is not a pass). Tests of refusals mark `iam_denials`."""
    offset = os.path.getsize(iam_denials_file) if os.path.exists(iam_denials_file) else 0
    yield
    if request.node.get_closest_marker("iam_denials") is not None or not os.path.exists(iam_denials_file):
        return
    with open(iam_denials_file, encoding="utf-8") as handle:
        handle.seek(offset)
        lines = [line for line in handle.read().splitlines() if line.strip()]
    if lines:
        from infra.devstack.iam_policy import Denial

        denials = sorted({Denial(**json.loads(line)).message() for line in lines})
        pytest.fail("AccessDenied on AWS: " + "; ".join(denials), pytrace=False)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory, iam_denials_file: str) -> Iterator[MotoServer]:
    # moto's request recorder (off until a test starts it) writes here: the fault harness counts at the target.
    recording = str(tmp_path_factory.mktemp("moto") / "recording.jsonl")
    with MotoServer(env={"MOTO_ECS_SERVICE_RUNNING": "2", "MOTO_RECORDER_FILEPATH": recording}) as server:
        yield server


@pytest.fixture(scope="session")
def sqs(moto_server: MotoServer) -> Any:
    return aws_client("sqs", moto_server.endpoint_url)


@pytest.fixture
def queues(sqs: Any) -> Queues:
    """A fresh jobs queue + DLQ per test (unique names), with a 1 s visibility timeout."""
    return provision_queues(sqs, name=f"jobs-{uuid.uuid4().hex[:12]}", visibility_timeout=1)


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    """The local Slack, strict: it refuses what Slack refuses (workspace, scopes, rate limits)."""
    with SlackApiServer(token="xoxb-test", workspace=workspace_for_tests()) as server:
        yield server


@pytest.fixture
def tables(moto_server: MotoServer) -> Tables:
    """Fresh idempotency and leases tables per test."""
    suffix = uuid.uuid4().hex[:12]
    return provision_tables(
        aws_client("dynamodb", moto_server.endpoint_url),
        idempotency=f"idem-{suffix}",
        leases=f"leases-{suffix}",
        audit=f"audit-{suffix}",
    )


@pytest.fixture(scope="session")
def ecs_cluster(moto_server: MotoServer) -> str:
    """A demo cluster with services `payment` and `checkout`, 2 tasks running each."""
    # One name in every session: the worker's policy names the cluster, and the template synthesized for the
    # demo inventory on it is then synthesized once and read from the cache (infra/devstack/deployed.py).
    cluster = "cluster-tests"
    provision_demo_ecs(aws_client("ecs", moto_server.endpoint_url), cluster=cluster)
    return cluster


@pytest.fixture(scope="session")
def demo_ops(moto_server: MotoServer) -> None:
    """The EC2 instances tagged Name=bastion and the services' log groups with sample lines."""
    from infra.devstack.demo import provision_demo_instances, provision_demo_logs

    provision_demo_instances(aws_client("ec2", moto_server.endpoint_url))
    provision_demo_logs(aws_client("logs", moto_server.endpoint_url))


@pytest.fixture
def clock():
    from opsbot_testkit.harness import Clock

    return Clock()


@pytest.fixture
def codebuild(clock) -> Iterator[Any]:
    """The local CodeBuild + CodePipeline on the test's clock, with the demo projects and pipeline."""
    from infra.devstack.codebuild import CodeBuildServer

    with CodeBuildServer(clock=clock.time) as server:
        yield server


@pytest.fixture
def jenkins(clock) -> Iterator[Any]:
    from infra.devstack.jenkins import JenkinsServer

    with JenkinsServer(clock=clock.time) as server:
        yield server


@pytest.fixture
def harness(moto_server, slack, queues, tables, ecs_cluster, demo_ops, codebuild, jenkins, clock):
    from infra.devstack.demo import DemoTimings, script_demo_builds
    from opsbot_testkit.harness import Harness

    script_demo_builds(codebuild, jenkins, DemoTimings(migration_s=600, regression_s=300))
    return Harness(
        moto=moto_server,
        slack=slack,
        queues=queues,
        tables=tables,
        cluster=ecs_cluster,
        codebuild=codebuild,
        jenkins=jenkins,
        clock=clock,
    )
