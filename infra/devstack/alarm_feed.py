"""The alarm routes of the local stack, as the deployed stack wires them (infra/aws/alarm_feed.py), on moto:

- `sns`: the alarm feed topic, subscribed to the jobs queue with the SNS envelope kept (raw delivery off);
- `sns-raw`: a second topic whose subscription has raw message delivery on (the bare alarm JSON), as an
  operator's own topic subscribed that way delivers it;
- `eventbridge`: rules on the default event bus with the deployed stack's patterns (`alarm_event_patterns` of
  the inventory's `[alarms]`), targeting the jobs queue.

`opsbot alarm <name> ALARM|OK [--via ...]` publishes the CloudWatch alarm state change through one of them and
moto delivers it to the queue, as SNS and EventBridge would: an alarm the inventory does not route matches no
rule, exactly as on AWS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.alarm_events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE
from shared.alarms import alarm_event_patterns

LOCAL_ACCOUNT = "123456789012"
#: The topics' names on the local stack (moto: arn:aws:sns:<region>:123456789012:<name>).
FEED_TOPIC = "opsbot-alarm-feed"
RAW_TOPIC = "opsbot-alarm-feed-raw"
#: The EventBridge rules: `<prefix>-<n>`, one per pattern.
RULE_PREFIX = "opsbot-alarm-state-changes"
LOCAL_TOPIC = f"arn:aws:sns:us-east-1:{LOCAL_ACCOUNT}:{FEED_TOPIC}"
Via = Literal["sns", "sns-raw", "eventbridge"]
VIAS: tuple[Via, ...] = ("sns", "sns-raw", "eventbridge")
_PREVIOUS = {"ALARM": "OK", "OK": "ALARM", "INSUFFICIENT_DATA": "OK"}


def _timestamp(moment: datetime) -> str:
    """CloudWatch's StateChangeTime format: `2026-12-01T10:00:00.000+0000`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def alarm_message(
    name: str, state: str, *, reason: str = "", now: datetime | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The alarm JSON CloudWatch publishes to SNS for alarm `name` entering `state`."""
    moment = now or datetime.now(UTC)
    return {
        "AlarmName": name,
        "AlarmDescription": f"{name} (fired locally by opsbot alarm)",
        "AWSAccountId": LOCAL_ACCOUNT,
        "NewStateValue": state,
        "NewStateReason": reason or f"Set to {state} by opsbot alarm on the local stack.",
        "StateChangeTime": _timestamp(moment),
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{LOCAL_ACCOUNT}:alarm:{name}",
        "OldStateValue": _PREVIOUS[state],
        "Trigger": {"MetricName": "local", "Namespace": "opsbot/local", "Threshold": 0.0},
    }


def sns_alarm_notification(name: str, state: str, *, reason: str = "", now: datetime | None = None) -> str:
    """The SQS body SNS delivers for alarm `name` entering `state` with raw delivery off (the alarm in `Message`)."""
    moment = now or datetime.now(UTC)
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": LOCAL_TOPIC,
            "Subject": f'{state}: "{name}"'[:100],
            "Message": json.dumps(alarm_message(name, state, reason=reason, now=moment)),
            "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "SignatureVersion": "1",
        }
    )


def alarm_event_detail(name: str, state: str, *, reason: str = "", now: datetime | None = None) -> dict[str, Any]:
    """The `detail` of EventBridge's `CloudWatch Alarm State Change` event for the same change."""
    moment = now or datetime.now(UTC)
    alarm = alarm_message(name, state, reason=reason, now=moment)
    return {
        "alarmName": name,
        "state": {"value": state, "reason": alarm["NewStateReason"], "timestamp": alarm["StateChangeTime"]},
        "previousState": {"value": alarm["OldStateValue"], "reason": "", "timestamp": alarm["StateChangeTime"]},
        "configuration": {"description": alarm["AlarmDescription"], "metrics": []},
    }


@dataclass(frozen=True)
class AlarmRoutes:
    """Where `opsbot alarm` publishes on the local stack."""

    feed_topic_arn: str
    raw_topic_arn: str
    rules: tuple[str, ...]


def provision_alarm_routes(sns: Any, events: Any, *, queue_arn: str, routes: Mapping[str, bool]) -> AlarmRoutes:
    """The two topics and their subscriptions to the jobs queue, and one EventBridge rule per pattern of the
    inventory's `[alarms]` (`routes`: key -> prefix) targeting it. Idempotent: a second call changes nothing."""
    topics: dict[str, str] = {}
    for name, raw in ((FEED_TOPIC, False), (RAW_TOPIC, True)):
        arn = sns.create_topic(Name=name)["TopicArn"]
        topics[name] = arn
        existing = sns.list_subscriptions_by_topic(TopicArn=arn).get("Subscriptions", [])
        if not any(s.get("Endpoint") == queue_arn for s in existing):
            sns.subscribe(
                TopicArn=arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true" if raw else "false"},
            )
    rules: list[str] = []
    for n, pattern in enumerate(alarm_event_patterns(routes), start=1):
        rule = f"{RULE_PREFIX}-{n}"
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "jobs-queue", "Arn": queue_arn}])
        rules.append(rule)
    return AlarmRoutes(feed_topic_arn=topics[FEED_TOPIC], raw_topic_arn=topics[RAW_TOPIC], rules=tuple(rules))


def publish_alarm(via: Via, *, sns: Any, events: Any, region: str, name: str, state: str, reason: str = "") -> str:
    """Publish alarm `name` entering `state` through route `via`; the id SNS or EventBridge gave it."""
    moment = datetime.now(UTC)
    if via in ("sns", "sns-raw"):
        topic = sns.create_topic(Name=FEED_TOPIC if via == "sns" else RAW_TOPIC)["TopicArn"]  # its ARN, idempotent
        if not sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions"):
            raise LookupError(f"the local topic {topic} has no subscription: is the local stack running?")
        answer = sns.publish(
            TopicArn=topic,
            Subject=f'{state}: "{name}"'[:100],
            Message=json.dumps(alarm_message(name, state, reason=reason, now=moment, region=region)),
        )
        return str(answer["MessageId"])
    entry = {
        "Source": EVENTBRIDGE_SOURCE,
        "DetailType": EVENTBRIDGE_DETAIL_TYPE,
        "Resources": [f"arn:aws:cloudwatch:{region}:{LOCAL_ACCOUNT}:alarm:{name}"],
        "Detail": json.dumps(alarm_event_detail(name, state, reason=reason, now=moment)),
    }
    answer = events.put_events(Entries=[entry])
    [result] = answer["Entries"]
    if "EventId" not in result:
        raise LookupError(f"EventBridge refused the event: {result.get('ErrorMessage', result)}")
    return str(result["EventId"])
