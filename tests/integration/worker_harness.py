"""A worker built as the Lambda builds it, on moto server and the local Slack API, plus job factories."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3

from infra.local.aws import FAKE_CREDENTIALS, MotoServer, Queues, Tables, aws_client
from infra.local.slack_api import SlackApiServer
from shared.commands import find_command
from shared.jobs import JobEnvelope, Requester, job_id_for, utcnow
from shared.settings import WorkerSettings
from tests.fakes import FakeLambdaContext
from worker_function.app import build_dispatcher
from worker_function.clients import AwsClients
from worker_function.dispatch import Dispatcher


@dataclass
class Harness:
    moto: MotoServer
    slack: SlackApiServer
    queues: Queues
    tables: Tables
    cluster: str

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
            "ecs_cluster": self.cluster,
            "slack_max_retries": 2,
        }
        values.update(overrides)
        return WorkerSettings.model_validate(values)

    def dispatcher(self, **overrides: Any) -> Dispatcher:
        settings = self.settings(**overrides)
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        dispatcher = build_dispatcher(settings, aws=AwsClients(settings, session=session))
        dispatcher.start_invocation(FakeLambdaContext())
        return dispatcher

    def job(self, line: str, *, issued_at: datetime | None = None, response_url: str | None = "auto") -> JobEnvelope:
        """The job the ack would queue for `line`, with a fresh response_url on the local Slack."""
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
            response_url=self.slack.response_url(job_id) if response_url == "auto" else response_url,
            issued_at=issued_at or utcnow(),
            correlation_id=job_id,
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = aws_client("sqs", self.moto.endpoint_url)
        return sqs.receive_message(
            QueueUrl=self.queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])

    def primary_deployment(self, service: str) -> str:
        ecs = aws_client("ecs", self.moto.endpoint_url)
        [svc] = ecs.describe_services(cluster=self.cluster, services=[service])["services"]
        return str(next(d["id"] for d in svc["deployments"] if d["status"] == "PRIMARY"))


def minutes_ago(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
