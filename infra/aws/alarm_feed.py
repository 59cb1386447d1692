"""The alarm feed: the state changes of the alarms the inventory routes reach the jobs queue two ways.

- EventBridge: CloudWatch sends every alarm's state change to the default event bus; a rule per
  `alarm_event_patterns` (shared/alarms.py: the inventory's `[alarms]` names and prefixes, as few rules as fit
  EventBridge's 2,048-character pattern quota) targets the jobs queue, whose policy lets `events.amazonaws.com`
  send only for those rules (`aws:SourceArn`). Nothing to set on the alarms themselves.
- SNS: an alarm whose action is the alarm feed topic publishes to it; the topic is subscribed to the jobs queue
  (SNS envelope kept, raw delivery off; the worker reads raw deliveries too), and only CloudWatch alarms of this
  account may publish (`aws:SourceAccount`, `aws:SourceArn`), only the topic may send to the queue.

An alarm on both routes arrives twice and is shown once (worker_function/alarms.py: the same change is skipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import Annotations, ArnFormat, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.alarms import alarm_event_patterns
from shared.inventory_entries import AlarmRoute


def allow_cloudwatch_alarms(topic: sns.Topic, *, alarm_arns: Iterable[str] | None = None) -> None:
    """A TopicPolicy replaces SNS's default policy: CloudWatch alarm actions need this Allow to publish. Scoped as
    AWS recommends: this account (`aws:SourceAccount`) and its alarms (`aws:SourceArn`: `alarm_arns` when the
    alarms are known, else any alarm of this account and region)."""
    stack = Stack.of(topic)
    arns = list(alarm_arns) if alarm_arns is not None else None
    source = (
        {"ArnEquals": {"aws:SourceArn": arns}}
        if arns
        else {
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
                )
            }
        }
    )
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}, **source},
        )
    )


class AlarmFeed(Construct):
    """The alarm feed topic and the EventBridge rules, both delivering to the jobs queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        inventory_alarms: Mapping[str, AlarmRoute] | None = None,
        known_alarms: Iterable[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        routes = dict(inventory_alarms or {})
        self.topic = sns.Topic(self, "Topic", display_name="opsbot alarm feed", enforce_ssl=True)
        allow_cloudwatch_alarms(self.topic)
        self.topic.add_subscription(subscriptions.SqsSubscription(queue, raw_message_delivery=False))
        #: One rule per pattern; the SqsQueue target adds the queue policy statement for `events.amazonaws.com`
        #: conditioned on the rule's ARN.
        self.rules = [
            events.Rule(
                self,
                f"AlarmStateChanges{n}",
                description="opsbot: state changes of the alarms its inventory routes, to the jobs queue",
                event_pattern=events.EventPattern(
                    source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
                ),
                targets=[targets.SqsQueue(queue)],
            )
            for n, pattern in enumerate(
                alarm_event_patterns({name: route.prefix for name, route in routes.items()}), start=1
            )
        ]
        known = set(known_alarms)
        unseen = sorted(name for name in routes if name not in known)
        if unseen:
            # Synth cannot see the account: an alarm defined elsewhere is fine, so this is a warning, not an error.
            Annotations.of(self).add_warning_v2(
                "opsbot:alarmNotInStack",
                "The inventory's [alarms] name alarms this stack does not define (synth cannot see the account; "
                f"make sure they exist; the EventBridge rule delivers their state changes): {', '.join(unseen)[:1000]}",
            )
