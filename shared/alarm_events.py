"""Whether a decoded queue body is a CloudWatch alarm notification, without its models: the worker asks this of
every message it receives, and imports `shared.alarms` (which parses one) only when one is.

The shapes (platform-facts.md): an SNS notification (`Type: Notification`), the alarm JSON itself (SNS raw
message delivery), or a CloudWatch event from EventBridge (`source: aws.cloudwatch`).
"""

from __future__ import annotations

from typing import Any

EVENTBRIDGE_DETAIL_TYPE = "CloudWatch Alarm State Change"
#: The `source` of CloudWatch's events on EventBridge.
EVENTBRIDGE_SOURCE = "aws.cloudwatch"
#: CloudWatch's other alarm events (EventBridge events reference, Amazon CloudWatch events): not state changes of
#: an alarm, so not shown; recognised so that a rule matching them does not send them to the dead-letter queue.
IGNORED_DETAIL_TYPES = ("CloudWatch Alarm Contributor State Change", "CloudWatch Alarm Configuration Change")


def is_raw_sns(data: dict[str, Any]) -> bool:
    """The alarm JSON CloudWatch publishes, delivered by SNS without its envelope (raw message delivery)."""
    return "AlarmName" in data and "NewStateValue" in data


def is_alarm_body(data: object) -> bool:
    """Whether a decoded queue body claims to be an alarm: an SNS notification (enveloped or raw), or one of
    CloudWatch's alarm events from EventBridge (the state change, or one `ignored_event` names)."""
    return isinstance(data, dict) and (
        data.get("Type") == "Notification"
        or is_raw_sns(data)
        or data.get("detail-type") == EVENTBRIDGE_DETAIL_TYPE
        or ignored_event(data) is not None
    )


def ignored_event(data: object) -> str | None:
    """The detail-type of a CloudWatch alarm event that is not an alarm's state change (contributor, configuration),
    or None."""
    if not isinstance(data, dict) or data.get("source") != EVENTBRIDGE_SOURCE:
        return None
    detail_type = data.get("detail-type")
    return detail_type if detail_type in IGNORED_DETAIL_TYPES else None
