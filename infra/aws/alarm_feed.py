"""The alarm feed: CloudWatch alarms publish to an SNS topic subscribed to the jobs queue (SNS envelope kept,
raw delivery off, so the worker reads the alarm from `Message`; shared/alarms.py)."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Annotations, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class AlarmFeed(Construct):
    """One topic for the alarms opsbot posts; only CloudWatch of this account may publish, only the topic may
    send to the queue (the subscription's queue policy statement is conditioned on the topic's ARN)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        inventory_alarms: Iterable[str] = (),
        known_alarms: Iterable[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.topic = sns.Topic(self, "Topic", display_name="opsbot alarm feed", enforce_ssl=True)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        self.topic.add_subscription(subscriptions.SqsSubscription(queue, raw_message_delivery=False))
        known = set(known_alarms)
        unseen = sorted(name for name in inventory_alarms if name not in known)
        if unseen:
            # Synth cannot see the account: an alarm defined elsewhere is fine, so this is a warning, not an error.
            Annotations.of(self).add_warning_v2(
                "opsbot:alarmNotInStack",
                "The inventory's [alarms] name alarms this stack does not define (synth cannot see the account; "
                f"make sure they exist and publish to this topic): {', '.join(unseen)[:1000]}",
            )
