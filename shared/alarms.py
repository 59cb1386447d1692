"""CloudWatch alarm state changes as they arrive on the jobs queue, through SNS or through EventBridge.

SNS -> SQS (raw delivery off): the SQS body is the SNS envelope (`Type: Notification`) whose `Message` is the
alarm JSON (`AlarmName`, `NewStateValue`, `StateChangeTime`, ...). SNS -> SQS with raw message delivery on: the
body is that alarm JSON itself, no envelope. EventBridge -> SQS: the body is the event, `detail-type: CloudWatch
Alarm State Change`, `detail.state.value` etc. (platform-facts.md). `parse_alarm` accepts all three and raises
`AlarmFormatError` on anything else, so the worker logs and drops it: a malformed notification is never retried
forever. CloudWatch's other events on EventBridge (`CloudWatch Alarm Contributor State Change`, one time series
of a multi-time-series alarm; `CloudWatch Alarm Configuration Change`, an alarm created, updated or deleted) are
recognised by `shared.alarm_events.ignored_event` and dropped: the alarm's own state change says what the channel shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.alarm_events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE, is_raw_sns
from shared.errors import AlarmFormatError

AlarmState = Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
#: Longest alarm name CloudWatch allows.
MAX_ALARM_NAME = 255


class AlarmStateChange(BaseModel):
    """One alarm's change of state, whichever way it came."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str = Field(min_length=1, max_length=MAX_ALARM_NAME)
    description: str = ""
    state: AlarmState
    previous: AlarmState | None = None
    reason: str = ""
    changed_at: datetime
    region: str = ""
    arn: str = ""
    account: str = ""
    via: Literal["sns", "sns-raw", "eventbridge"]


class _SnsAlarm(BaseModel):
    """The alarm JSON CloudWatch publishes to SNS (only the fields opsbot reads)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    AlarmName: str
    AlarmDescription: str | None = None
    NewStateValue: AlarmState
    OldStateValue: AlarmState | None = None
    NewStateReason: str = ""
    StateChangeTime: datetime
    Region: str = ""
    AlarmArn: str = ""
    AWSAccountId: str = ""


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    value: AlarmState
    reason: str = ""
    timestamp: datetime | None = None


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    alarmName: str
    state: _State
    previousState: _State | None = None
    configuration: dict[str, Any] = Field(default_factory=dict)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    time: datetime
    region: str = ""
    account: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: _Detail


#: The action id of a runbook button (block_actions routes on it; the value says which entry of which alarm).
RUNBOOK_ACTION = "opsbot_runbook"


class RunbookRef(BaseModel):
    """What a runbook button's value carries: which entry of which inventory alarm key, nothing else. Who
    clicked and in which channel come from the signed click; what runs comes from the inventory."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    alarm: str = Field(min_length=1, max_length=MAX_ALARM_NAME)
    entry: int = Field(ge=0, lt=100)

    def value(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_value(cls, value: str) -> RunbookRef:
        """The reference in a button's value, or `AlarmFormatError`."""
        try:
            return cls.model_validate_json(value)
        except ValidationError:
            raise AlarmFormatError("not a runbook button of opsbot") from None


def parse_alarm(body: str | bytes | dict[str, Any]) -> AlarmStateChange:
    """The alarm state change in an SQS body (SNS envelope, raw SNS message or EventBridge event), or
    `AlarmFormatError`."""
    data = _json_object(body, "the queue message")
    try:
        if data.get("Type") == "Notification":
            return _from_sns(data)
        if data.get("detail-type") == EVENTBRIDGE_DETAIL_TYPE:
            return _from_event(_Event.model_validate(data))
        if is_raw_sns(data):
            return _from_alarm_json(data, via="sns-raw")
    except ValidationError as exc:
        raise AlarmFormatError(f"not a CloudWatch alarm state change: {_problem(exc)}") from None
    raise AlarmFormatError("not an SNS notification nor a CloudWatch Alarm State Change event")


def _from_sns(envelope: dict[str, Any]) -> AlarmStateChange:
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise AlarmFormatError("the SNS notification has no Message text")
    return _from_alarm_json(_json_object(message, "the SNS Message"), via="sns")


def _from_alarm_json(data: dict[str, Any], *, via: Literal["sns", "sns-raw"]) -> AlarmStateChange:
    alarm = _SnsAlarm.model_validate(data)
    return AlarmStateChange(
        name=alarm.AlarmName,
        description=alarm.AlarmDescription or "",
        state=alarm.NewStateValue,
        previous=alarm.OldStateValue,
        reason=alarm.NewStateReason,
        changed_at=alarm.StateChangeTime,
        region=alarm.Region,
        arn=alarm.AlarmArn,
        account=alarm.AWSAccountId,
        via=via,
    )


def _from_event(event: _Event) -> AlarmStateChange:
    detail = event.detail
    description = detail.configuration.get("description")
    return AlarmStateChange(
        name=detail.alarmName,
        description=description if isinstance(description, str) else "",
        state=detail.state.value,
        previous=detail.previousState.value if detail.previousState else None,
        reason=detail.state.reason,
        changed_at=detail.state.timestamp or event.time,
        region=event.region,
        arn=event.resources[0] if event.resources else "",
        account=event.account,
        via="eventbridge",
    )


#: EventBridge's default quota on a rule's event pattern (2,048 characters; adjustable to 4,096), less a margin.
EVENT_PATTERN_BUDGET = 2_000


def alarm_event_patterns(routes: Mapping[str, bool], *, budget: int = EVENT_PATTERN_BUDGET) -> list[dict[str, Any]]:
    """The EventBridge patterns matching the state changes of the alarms the inventory routes (`routes`: the
    `[alarms]` key and whether it is a prefix), as few as fit EventBridge's pattern size: one rule each. The
    deployed stack (infra/aws/alarm_feed.py) and the local stack (infra/devstack/alarm_feed.py) both use them."""
    names: list[Any] = [{"prefix": key} if prefix else key for key, prefix in sorted(routes.items())]
    patterns: list[dict[str, Any]] = []
    chunk: list[Any] = []

    def pattern(values: list[Any]) -> dict[str, Any]:
        return {
            "source": [EVENTBRIDGE_SOURCE],
            "detail-type": [EVENTBRIDGE_DETAIL_TYPE],
            "detail": {"alarmName": list(values)},
        }

    for name in names:
        if chunk and len(json.dumps(pattern([*chunk, name]))) > budget:
            patterns.append(pattern(chunk))
            chunk = []
        chunk.append(name)
    if chunk:
        patterns.append(pattern(chunk))
    return patterns


def _json_object(body: str | bytes | dict[str, Any], what: str) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AlarmFormatError(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise AlarmFormatError(f"{what} is not a JSON object")
    return data


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {err['msg']}"
