"""A worker built as the Lambda builds it, on moto server and the local Slack API, plus job factories."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.config import Config

from infra.devstack.aws import MotoServer, Queues, Tables, aws_client
from infra.devstack.codebuild import CodeBuildServer
from infra.devstack.demo import demo_inventory_toml
from infra.devstack.deployed import LOCAL_ACCOUNT
from infra.devstack.fault_proxy import FaultProxy
from infra.devstack.jenkins import JenkinsServer
from infra.devstack.roles import (
    RoleCredentials,
    enforce_on_stand_ins,
    local_resources,
    provision_function_roles,
    provision_runbook_roles,
)
from infra.devstack.runbooks import provision_runbooks
from infra.devstack.slack_api import SlackApiServer
from opsbot_testkit.lambda_context import FakeLambdaContext
from shared.commands import find_command
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester, job_id_for, utcnow
from shared.settings import WorkerSettings
from worker_function.app import build_dispatcher
from worker_function.clients import AwsClients
from worker_function.dispatch import Dispatcher

#: Seconds a waiting step asks to wait in these tests: the controllable clock moves this much per step,
#: while SQS delivers the next step at once (max_delay_s=0).
POLL_S = 120.0


#: The worker's read timeout on the wire in these tests: a `timeout` fault holds the answer back this long.
WIRE_READ_TIMEOUT_S = 2


@dataclass(frozen=True)
class Wire:
    """The fault proxy and its fronts (URLs the worker uses instead of moto's, Slack's, CodeBuild's, Jenkins's)."""

    proxy: FaultProxy
    aws: str
    slack: str
    codebuild: str
    jenkins: str


class Clock:
    """A clock tests move by hand: the worker, the local CodeBuild and the local Jenkins all read it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@dataclass
class Harness:
    moto: MotoServer
    slack: SlackApiServer
    queues: Queues
    tables: Tables
    cluster: str
    codebuild: CodeBuildServer | None = None
    jenkins: JenkinsServer | None = None
    clock: Clock = field(default_factory=Clock)
    inventory_toml: str | None = None
    #: The poll interval of the worker, and how far the clock moves per step in `run`.
    poll_s: float = POLL_S
    #: The runbooks' state machines the worker runs (OPSBOT_RUNBOOK_ARNS).
    runbook_arns: dict[str, str] = field(default_factory=dict)
    #: The worker's role sessions, per inventory (the template, and so the policy, depends on it).
    _roles: dict[str, RoleCredentials] = field(default_factory=dict)

    def worker_role(self, secret_arn: str | None = None) -> RoleCredentials:
        """A session of the worker's role as the CDK app synthesizes it for this inventory, on this test's queue,
        tables (and secret): every AWS call the worker makes is checked by moto on its resource
        (infra/devstack/moto_iam.py)."""
        inventory = self.inventory_toml or demo_inventory_toml(self.cluster)
        key = f"{secret_arn}\0{inventory}"
        if key not in self._roles:
            local = local_resources(self.queues, self.tables, secret_arn=secret_arn)
            self._roles[key] = provision_function_roles(
                self.moto.endpoint_url, inventory, local, functions=("worker",)
            )["worker"]
            if self.codebuild is not None:  # its CodeBuild/CodePipeline calls are checked by the stand-in
                enforce_on_stand_ins(
                    self.codebuild, self.moto.endpoint_url, self._roles[key], denials_path=self.moto.denials_path
                )
        return self._roles[key]

    def provision_runbooks(self) -> dict[str, str]:
        """The inventory's runbooks as the stack deploys them, in this test's moto: each defined one as a state
        machine under the role the CDK app synthesizes for it (its tasks checked on their resources, as the
        functions' calls are), remembered as the worker's OPSBOT_RUNBOOK_ARNS. Runbook name -> state machine ARN."""
        inventory = self.inventory_toml or demo_inventory_toml(self.cluster)
        roles = provision_runbook_roles(self.moto.endpoint_url, inventory, local_resources(self.queues, self.tables))
        self.runbook_arns = provision_runbooks(
            aws_client("stepfunctions", self.moto.endpoint_url), self.inventory, account=LOCAL_ACCOUNT, roles=roles
        )
        return self.runbook_arns

    def worker_session(self, secret_arn: str | None = None) -> Any:
        return self.worker_role(secret_arn).session()

    #: The fault proxy's fronts, when the worker's calls go through it (`wired`).
    wire: Wire | None = None

    def wired(self, proxy: FaultProxy) -> Wire:
        """From now on the worker this harness builds calls moto, Slack, CodeBuild and Jenkins through `proxy`
        (and its jobs' response_urls go through it too)."""
        assert self.codebuild is not None and self.jenkins is not None
        self.wire = Wire(
            proxy=proxy,
            aws=proxy.front("aws", self.moto.endpoint_url),
            slack=proxy.front("slack", self.slack.url),
            codebuild=proxy.front("codebuild", self.codebuild.url),
            jenkins=proxy.front("jenkins", self.jenkins.url),
        )
        return self.wire

    @property
    def inventory(self) -> Inventory:
        return Inventory.from_toml(self.inventory_toml or demo_inventory_toml(self.cluster))

    def settings(self, **overrides: Any) -> WorkerSettings:
        values: dict[str, Any] = {
            "jobs_queue_url": self.queues.queue_url,
            "jobs_dlq_url": self.queues.dlq_url,
            "slack_bot_token": "xoxb-test",
            "slack_api_url": self.slack.api_url,
            "local_mode": True,
            "aws_endpoint_url": self.moto.endpoint_url,
            "idempotency_table": self.tables.idempotency,
            "leases_table": self.tables.leases,
            "audit_table": self.tables.audit,
            "ecs_cluster": self.cluster,
            "slack_max_retries": 2,
            "poll_interval_s": self.poll_s,
            "inline_wait_s": 0.5,
            "max_delay_s": 0,
            "runbook_arns": self.runbook_arns,
        }
        if self.codebuild is not None:
            values["service_endpoints"] = {"codebuild": self.codebuild.url, "codepipeline": self.codebuild.url}
        if self.jenkins is not None:
            values.update(
                jenkins_url=self.jenkins.url, jenkins_user=self.jenkins.user, jenkins_api_token=self.jenkins.token
            )
        if self.wire is not None:
            values.update(
                aws_endpoint_url=self.wire.aws,
                slack_api_url=f"{self.wire.slack}/api/",
                service_endpoints={"codebuild": self.wire.codebuild, "codepipeline": self.wire.codebuild},
                jenkins_url=self.wire.jenkins,
            )
        values.update(overrides)
        return WorkerSettings.model_validate(values)

    def dispatcher(self, context: Any = None, **overrides: Any) -> Dispatcher:
        settings = self.settings(**overrides)
        session = self.worker_session(settings.secret_arn)
        # On the wire, a held answer is given up on after WIRE_READ_TIMEOUT_S (the deployed worker waits 20 s).
        timeouts = Config(read_timeout=WIRE_READ_TIMEOUT_S) if self.wire is not None else None
        dispatcher = build_dispatcher(
            settings,
            aws=AwsClients(settings, session=session, overrides=timeouts),
            inventory=self.inventory,
            now=self.clock.now,
        )
        dispatcher.start_invocation(context or FakeLambdaContext())
        return dispatcher

    def queued(self, *, wait: int = 0) -> list[dict[str, Any]]:
        """Messages on the jobs queue now (received: they come back after the 1 s visibility timeout)."""
        sqs = aws_client("sqs", self.moto.endpoint_url)
        return sqs.receive_message(
            QueueUrl=self.queues.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, AttributeNames=["All"]
        ).get("Messages", [])

    def delete(self, message: dict[str, Any]) -> None:
        aws_client("sqs", self.moto.endpoint_url).delete_message(
            QueueUrl=self.queues.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )

    def run(self, job: JobEnvelope, worker: Dispatcher | None = None, *, max_steps: int = 50) -> int:
        """Deliver the job, then each step it queues (moving the clock by the poll interval before each), as
        the SQS event source would, until it queues no more. Returns the number of steps delivered."""
        worker = worker or self.dispatcher()
        worker.handle_record(job.to_message(), 1)
        steps = 1
        while steps < max_steps:
            pending = self.queued()
            if not pending:
                return steps
            for message in pending:
                self.clock.advance(self.poll_s)
                worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
                self.delete(message)
                steps += 1
        raise AssertionError(f"{job.display} still running after {max_steps} steps")

    def steps_of(self, message: dict[str, Any]) -> int:
        return int((json.loads(message["Body"]).get("continuation") or {}).get("step", 0))

    def job(
        self, line: str, *, issued_at: datetime | None = None, response_url: str | None = "auto", confirmed: bool = True
    ) -> JobEnvelope:
        """The job the ack would queue for `line`, with a fresh response_url on the local Slack. A command that
        needs confirming comes confirmed by its requester (as the ack queues it after Confirm) unless not
        `confirmed`."""
        name, _, text = line.partition(" ")
        spec = find_command(name)
        assert spec is not None, name
        job_id = job_id_for("T0001", uuid.uuid4().hex)
        return JobEnvelope(
            job_id=job_id,
            command=spec.name,
            text=text,
            args=spec.parse(text),
            requester=Requester(user_id="U0ALICE", user_name="alice", team_id="T0001", channel_id="C0OPS"),
            response_url=self._via_wire(self.slack.response_url(job_id)) if response_url == "auto" else response_url,
            issued_at=issued_at or self.clock.now(),
            correlation_id=job_id,
            confirmed_by="U0ALICE" if spec.confirm and confirmed else None,
        )

    def _via_wire(self, url: str) -> str:
        return url.replace(self.slack.url, self.wire.slack, 1) if self.wire is not None else url

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = aws_client("sqs", self.moto.endpoint_url)
        return sqs.receive_message(
            QueueUrl=self.queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])

    def primary_deployment(self, service: str) -> str:
        ecs = aws_client("ecs", self.moto.endpoint_url)
        [svc] = ecs.describe_services(cluster=self.cluster, services=[service])["services"]
        return str(next(d["id"] for d in svc["deployments"] if d["status"] == "PRIMARY"))


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def minutes_ago(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
