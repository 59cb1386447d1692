"""Alarm notifications from the jobs queue: SNS envelopes, raw SNS messages and EventBridge events parse alike;
CloudWatch's contributor and configuration events are recognised (and dropped by the worker); anything else is
refused with a clear error (so the worker drops it instead of retrying)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.alarm_events import ignored_event, is_alarm_body
from shared.alarms import alarm_event_patterns, parse_alarm
from shared.errors import AlarmFormatError
from tests.events import ALARM_SHAPES, EVENTS_DIR, IGNORED_ALARM_EVENTS, alarm_body

_VIA = {"sns": "sns", "sns_raw": "sns-raw", "eventbridge": "eventbridge"}


@pytest.mark.parametrize("shape", ALARM_SHAPES)
def test_every_way_in_gives_the_same_state_change(shape: str) -> None:
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
    assert alarm.via == _VIA[shape]


@pytest.mark.parametrize("shape", ALARM_SHAPES)
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
    for shape in ALARM_SHAPES:
        assert is_alarm_body(json.loads(alarm_body(shape)))
        assert ignored_event(json.loads(alarm_body(shape))) is None
    assert not is_alarm_body({"version": 1, "kind": "ping"})
    assert not is_alarm_body([1])
    # Another service's event with a look-alike detail-type is not CloudWatch's
    assert not is_alarm_body({"source": "my.app", "detail-type": "CloudWatch Alarm Configuration Change"})


@pytest.mark.parametrize("sample", IGNORED_ALARM_EVENTS)
def test_contributor_and_configuration_events_are_recognised_as_not_a_state_change(sample: str) -> None:
    data = json.loads((EVENTS_DIR / f"{sample}.json").read_text())
    assert is_alarm_body(data)
    assert ignored_event(data) == data["detail-type"]
    with pytest.raises(AlarmFormatError):  # never read as the alarm's state change
        parse_alarm(data)


def test_a_raw_message_missing_its_state_time_is_refused_saying_what() -> None:
    with pytest.raises(AlarmFormatError, match="StateChangeTime"):
        parse_alarm(json.dumps({"AlarmName": "x", "NewStateValue": "ALARM"}))


def test_the_event_patterns_match_exact_names_and_prefixes_within_eventbridges_quota() -> None:
    [pattern] = alarm_event_patterns({"payment-5xx": False, "checkout-": True})
    assert pattern == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": "checkout-"}, "payment-5xx"]},
    }
    many = {f"service-{i:03d}-" + "x" * 40: i % 2 == 0 for i in range(300)}
    patterns = alarm_event_patterns(many)
    assert len(patterns) > 1 and all(len(json.dumps(p)) <= 2_048 for p in patterns)
    routed = [v if isinstance(v, str) else v["prefix"] for p in patterns for v in p["detail"]["alarmName"]]
    assert sorted(routed) == sorted(many)  # every route in exactly one rule
    assert alarm_event_patterns({}) == []
