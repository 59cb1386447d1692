"""A CloudWatch alarm state change as SNS delivers it to the jobs queue (raw delivery off): the local stand-in
for the AWS alarm feed (`opsbot alarm <name> ALARM|OK`)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

LOCAL_ACCOUNT = "123456789012"
LOCAL_TOPIC = f"arn:aws:sns:us-east-1:{LOCAL_ACCOUNT}:opsbot-alarm-feed"
_PREVIOUS = {"ALARM": "OK", "OK": "ALARM", "INSUFFICIENT_DATA": "OK"}


def sns_alarm_notification(name: str, state: str, *, reason: str = "", now: datetime | None = None) -> str:
    """The SQS body SNS would deliver for alarm `name` entering `state` (the alarm JSON in `Message`)."""
    moment = now or datetime.now(UTC)
    alarm = {
        "AlarmName": name,
        "AlarmDescription": f"{name} (fired locally by opsbot alarm)",
        "AWSAccountId": LOCAL_ACCOUNT,
        "NewStateValue": state,
        "NewStateReason": reason or f"Set to {state} by opsbot alarm on the local stack.",
        "StateChangeTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{LOCAL_ACCOUNT}:alarm:{name}",
        "OldStateValue": _PREVIOUS[state],
        "Trigger": {"MetricName": "local", "Namespace": "opsbot/local", "Threshold": 0.0},
    }
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": LOCAL_TOPIC,
            "Subject": f'{state}: "{name}"'[:100],
            "Message": json.dumps(alarm),
            "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "SignatureVersion": "1",
        }
    )
