"""The opsbot stack: ingress, queue, worker, state, secret, monitoring, and the request URL."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.aws.alarm_feed import AlarmFeed
from infra.aws.config import DeployConfig
from infra.aws.ingress import Ingress
from infra.aws.jobs_queue import JobsQueue
from infra.aws.monitoring import Monitoring
from infra.aws.runbooks import Runbooks
from infra.aws.slack_secret import SlackSecret
from infra.aws.state import State
from infra.aws.target_account import WORKER_ROLE_NAME
from infra.aws.worker import Worker


class OpsbotStack(Stack):
    """Everything opsbot needs in one account and region."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config = DeployConfig.from_context(self.node)
        #: The stacks of the roles the worker assumes in other accounts (built by infra/aws/app.py).
        self.target_accounts: list[Stack] = []

        self.jobs = JobsQueue(self, "Queue")
        self.state = State(self, "State")
        self.slack = SlackSecret(self, "Slack")
        self.ingress = Ingress(
            self, "Ingress", queue=self.jobs.queue, secret=self.slack.secret, inventory_file=config.inventory_file
        )
        self.runbooks = Runbooks(self, "Runbooks", inventory=config.inventory, queue=self.jobs.queue)
        self.worker = Worker(
            self,
            "Worker",
            queue=self.jobs.queue,
            dlq=self.jobs.dlq,
            tables={"idempotency": self.state.idempotency, "leases": self.state.leases, "audit": self.state.audit},
            secret=self.slack.secret,
            inventory=config.inventory,
            inventory_file=config.inventory_file,
            jenkins_url=config.jenkins_url,
            runbooks=self.runbooks.arns(),
            # Named only when other accounts' roles trust it (infra/aws/target_account.py).
            role_name=WORKER_ROLE_NAME if config.inventory.role_arns() else None,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            api=self.ingress.api,
            ack=self.ingress.function,
            worker=self.worker.function,
            queue=self.jobs.queue,
            dlq=self.jobs.dlq,
        )
        self.alarm_feed = AlarmFeed(
            self,
            "AlarmFeed",
            queue=self.jobs.queue,
            inventory_alarms=config.inventory.alarms,
            known_alarms=[alarm.alarm_name for alarm in self.monitoring.alarms.values()],
        )

        CfnOutput(
            self,
            "RequestUrl",
            value=self.ingress.request_url,
            description="Paste into the Slack app manifest: opsbot manifest --url <this>",
        )
        CfnOutput(
            self,
            "SecretArn",
            value=self.slack.secret.secret_arn,
            description="Put the Slack signing secret and bot token here (aws secretsmanager put-secret-value), "
            "and jenkins_user / jenkins_api_token for /ops-build",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn, description="Subscribe to get alarms")
        CfnOutput(
            self,
            "AlarmFeedTopicArn",
            value=self.alarm_feed.topic.topic_arn,
            description="Alarm actions here post the alarm to its channel ([alarms] in the inventory)",
        )
        CfnOutput(self, "DeadLetterQueueUrl", value=self.jobs.dlq.queue_url, description="Jobs that failed every try")
