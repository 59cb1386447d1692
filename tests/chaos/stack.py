"""The local stack a chaos schedule runs on: moto in server mode with its IAM enforced, the local Slack API
(strict), the local CodeBuild and Jenkins on the run's simulated clock, the jobs queue with its DLQ, the tables,
and the roles of the ack and the worker as the CDK app synthesizes them. Made once, reset between seeds."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config

from infra.devstack.aws import (
    MotoServer,
    Queues,
    Tables,
    aws_client,
    provision_demo_ecs,
    provision_queues,
    provision_tables,
)
from infra.devstack.codebuild import CodeBuildServer
from infra.devstack.demo import (
    APPROVERS_GROUP,
    INCIDENT_CHANNEL,
    DemoTimings,
    demo_inventory_toml,
    demo_workspace,
    provision_demo_instances,
    provision_demo_logs,
    script_demo_builds,
)
from infra.devstack.jenkins import JenkinsServer
from infra.devstack.roles import local_resources, provision_function_roles
from infra.devstack.slack_api import SlackApiServer
from shared.jobs import utcnow
from tests.integration.worker_harness import Clock, Harness

SECRET = "chaos-signing-secret"
TEAM = "T0001"
OPS_CHANNEL = "C0LOCALOPS"
CLUSTER = "chaos-cluster"
#: The worker's read timeout on the wire: a `timeout` fault holds the answer this long (scaled: Lambda's is 20 s).
READ_TIMEOUT_S = 1.0

#: Alarms named `chaos-...` go to the incident channel, about `payment`.
ALARM_ROUTE = f"""
[alarms."chaos-"]
prefix = true
target = "payment"
channel = "{INCIDENT_CHANNEL}"
runbook = ["/ops-status payment"]
"""

#: What a worker may do to its target, by the request the target received.
_EFFECT_CALLS = ("ecs.UpdateService", "ec2.RebootInstances", "codebuild.StartBuild", "codebuild.StopBuild")
_JENKINS_BUILD = re.compile(r"^POST /job/.*/build(WithParameters)?$")
_SHORT_ID = re.compile(r"job `([0-9a-f]{8})`")


def inventory_toml(cluster: str = CLUSTER) -> str:
    """The demo inventory with its second-person rule (alex's prod migrations need @sre) and the chaos alarms."""
    return demo_inventory_toml(cluster, second_person=True) + ALARM_ROUTE


class Sim:
    """The simulated clock and the tick it is at (fault windows are in ticks)."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.tick = 0

    def restart(self) -> None:
        """Now again (the stand-ins keep reading this same clock)."""
        with self.clock._lock:
            self.clock._now = utcnow()
        self.tick = 0


# -- the stack ---------------------------------------------------------------------------------------------


@dataclass
class ChaosStack:
    moto: MotoServer
    slack: SlackApiServer
    codebuild: CodeBuildServer
    jenkins: JenkinsServer
    queues: Queues
    tables: Tables
    sim: Sim
    harness: Harness
    ack_sqs: Any
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def running(cls, moto: MotoServer | None = None) -> Iterator[ChaosStack]:
        """The stack on `moto` (else a moto server of its own), stopped after."""
        with contextlib.ExitStack() as stack:
            if moto is None:
                recording = stack.enter_context(tempfile.TemporaryDirectory())
                env = {"MOTO_ECS_SERVICE_RUNNING": "2", "MOTO_RECORDER_FILEPATH": f"{recording}/recording.jsonl"}
                moto = stack.enter_context(MotoServer(env=env))
            sim = Sim()
            slack = stack.enter_context(SlackApiServer(token="xoxb-test", workspace=demo_workspace()))
            slack.limits.enabled = False  # Slack's pace is a fault of its own here (errors on the wire)
            codebuild = stack.enter_context(CodeBuildServer(clock=sim.clock.time))
            jenkins = stack.enter_context(JenkinsServer(clock=sim.clock.time))
            script_demo_builds(codebuild, jenkins, DemoTimings(migration_s=45, regression_s=40, jenkins_build_s=20))
            ecs = aws_client("ecs", moto.endpoint_url)
            provision_demo_ecs(ecs, cluster=CLUSTER)
            provision_demo_instances(aws_client("ec2", moto.endpoint_url))
            provision_demo_logs(aws_client("logs", moto.endpoint_url))
            suffix = f"chaos{int(time.time() * 1000) % 10**8}"
            queues = provision_queues(aws_client("sqs", moto.endpoint_url), name=f"jobs-{suffix}", visibility_timeout=1)
            dynamodb = aws_client("dynamodb", moto.endpoint_url)
            tables = provision_tables(
                dynamodb, idempotency=f"idem-{suffix}", leases=f"leases-{suffix}", audit=f"audit-{suffix}"
            )
            harness = Harness(
                moto=moto,
                slack=slack,
                queues=queues,
                tables=tables,
                cluster=CLUSTER,
                codebuild=codebuild,
                jenkins=jenkins,
                clock=sim.clock,
                inventory_toml=inventory_toml(),
            )
            harness.worker_role()  # provisions the worker's role, and enforces it on the stand-ins
            local = local_resources(queues, tables)
            ack_role = provision_function_roles(moto.endpoint_url, inventory_toml(), local, functions=("ack",))["ack"]
            ack_sqs = ack_role.session().client(
                "sqs", endpoint_url=moto.endpoint_url, config=Config(retries={"total_max_attempts": 1})
            )
            yield cls(moto, slack, codebuild, jenkins, queues, tables, sim, harness, ack_sqs)

    def reset(self) -> None:
        """Between seeds: the queues drained, the tables emptied, Slack forgotten, the services as provisioned."""
        sqs = aws_client("sqs", self.moto.endpoint_url)
        for url in (self.queues.queue_url, self.queues.dlq_url):  # PurgeQueue: once a minute only
            while True:
                found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not found:
                    break
                for message in found:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        dynamodb = aws_client("dynamodb", self.moto.endpoint_url)
        for table in (self.tables.idempotency, self.tables.leases, self.tables.audit):
            keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})
        self.slack.reset()
        self.slack.set_usergroup(APPROVERS_GROUP, ["U0DANA"])
        ecs = aws_client("ecs", self.moto.endpoint_url)
        ecs.update_service(cluster=CLUSTER, service="payment", taskDefinition="payment:2", desiredCount=2)
        ecs.update_service(cluster=CLUSTER, service="checkout", taskDefinition="checkout:2", desiredCount=2)
        self.sim.restart()
