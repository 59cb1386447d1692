"""Alarm notifications from the jobs queue: SNS envelopes and EventBridge events parse alike; anything else is
refused with a clear error (so the worker drops it instead of retrying)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.alarms import is_alarm_body, parse_alarm
from shared.errors import AlarmFormatError
from tests.events import alarm_body


@pytest.mark.parametrize("shape", ["sns", "eventbridge"])
def test_both_ways_in_give_the_same_state_change(shape: str) -> None:
    # Given the sample notification of one alarm going OK -> ALARM, When parsed
    alarm = parse_alarm(alarm_body(shape))
    # Then the facts are the same whichever way it came
    assert alarm.name == "payment-5xx"
    assert (alarm.previous, alarm.state) == ("OK", "ALARM")
    assert alarm.reason.startswith("Threshold Crossed")
    assert alarm.description == "Payment returns 5xx"
    assert alarm.changed_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert alarm.arn.endswith(":alarm:payment-5xx")
    assert alarm.account == "123456789012"
    assert alarm.via == shape


@pytest.mark.parametrize("shape", ["sns", "eventbridge"])
def test_back_to_ok(shape: str) -> None:
    body = alarm_body(shape, NewStateValue="OK", OldStateValue="ALARM", StateChangeTime="2026-12-01T10:42:00.000+0000")
    alarm = parse_alarm(body)
    assert (alarm.previous, alarm.state) == ("ALARM", "OK")
    assert alarm.changed_at == datetime(2026, 12, 1, 10, 42, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"version": 1, "kind": "ping"}), "not an SNS notification"),
        (json.dumps({"Type": "Notification", "Message": "{oops"}), "SNS Message is not JSON"),
        (json.dumps({"Type": "Notification"}), "no Message"),
        (json.dumps({"Type": "Notification", "Message": json.dumps({"AlarmName": "x"})}), "NewStateValue"),
        (json.dumps({"detail-type": "CloudWatch Alarm State Change", "time": "2026-12-01T10:00:00Z"}), "detail"),
    ],
)
def test_anything_else_is_refused_saying_what(body: str, says: str) -> None:
    with pytest.raises(AlarmFormatError, match=says):
        parse_alarm(body)


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(AlarmFormatError, match="NewStateValue"):
        parse_alarm(alarm_body("sns", NewStateValue="ON_FIRE"))


def test_is_alarm_body_tells_alarms_from_jobs() -> None:
    assert is_alarm_body(json.loads(alarm_body("sns")))
    assert is_alarm_body(json.loads(alarm_body("eventbridge")))
    assert not is_alarm_body({"version": 1, "kind": "ping"})
    assert not is_alarm_body([1])
