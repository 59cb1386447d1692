"""The alarm message: state, reason, since when, how long an ALARM lasted, runbook buttons whose value names
only the inventory entry; within Slack's limits and inert for any text AWS sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.alarms import RUNBOOK_ACTION, AlarmStateChange, RunbookRef
from tests.unit.test_message_limits import HOSTILE, PROPERTY, assert_inert, check, texts
from worker_function.alarm_message import alarm_posted

RUNBOOK = ["/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment"]
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _alarm(**changes: object) -> AlarmStateChange:
    fields: dict[str, object] = {
        "name": "payment-5xx",
        "description": "Payment returns 5xx",
        "state": "ALARM",
        "previous": "OK",
        "reason": "Threshold Crossed: 12 > 5",
        "changed_at": T0,
        "region": "eu-west-1",
        "account": "123456789012",
        "via": "sns",
    }
    fields.update(changes)
    return AlarmStateChange.model_validate(fields)


def _all_text(message: object) -> str:
    return json.dumps(message.blocks)  # type: ignore[attr-defined]


def test_an_alarm_shows_state_reason_since_and_one_button_per_runbook_entry() -> None:
    message = check(
        alarm_posted(_alarm(), key="payment-5xx", target="payment", runbook=RUNBOOK, marker="opsbot_alarm_x")
    )
    text = _all_text(message)
    assert "*in ALARM*" in text and ":rotating_light:" in text
    assert "Since 2026-12-01 10:00:00 UTC" in text
    assert "Threshold Crossed: 12 &gt; 5" in text
    assert message.blocks[0]["block_id"] == "opsbot_alarm_x"
    (actions,) = [b for b in message.blocks if b["type"] == "actions"]
    labels = [b["text"]["text"] for b in actions["elements"]]
    assert labels == RUNBOOK
    refs = [RunbookRef.from_value(b["value"]) for b in actions["elements"]]
    assert refs == [RunbookRef(alarm="payment-5xx", entry=i) for i in range(3)]
    assert all(b["action_id"].startswith(RUNBOOK_ACTION) for b in actions["elements"])
    assert len({b["action_id"] for b in actions["elements"]}) == 3  # unique within the block, as Slack requires


def test_back_to_ok_says_how_long_it_lasted() -> None:
    ok = _alarm(state="OK", previous="ALARM", changed_at=datetime(2026, 12, 1, 10, 42, 30, tzinfo=UTC))
    message = check(alarm_posted(ok, key="payment-5xx", target="payment", runbook=[], marker="m", alarm_since=T0))
    text = _all_text(message)
    assert "*OK*" in text and "lasted *42m 30s*" in text
    assert not [b for b in message.blocks if b["type"] == "actions"]


def test_a_flapping_alarm_counts_its_changes() -> None:
    message = alarm_posted(_alarm(), key="payment-", target="payment", runbook=RUNBOOK, marker="m", changes=7)
    assert "7 state changes" in _all_text(check(message))


@PROPERTY
@given(name=st.text(min_size=1, max_size=255) | HOSTILE, reason=texts, description=texts)
def test_any_alarm_text_fits_and_stays_inert(name: str, reason: str, description: str) -> None:
    # Alarm names, reasons and descriptions come from AWS: anything. Runbook lines are the operators' own
    # (validated as commands at load): long ones still fit a button.
    alarm = _alarm(name=name, reason=reason, description=description)
    runbook = ["/ops-logs payment --since 30m " + "ERROR " * 100] * 5
    for state, previous in (("ALARM", "OK"), ("OK", "ALARM"), ("INSUFFICIENT_DATA", None)):
        changed = alarm.model_copy(update={"state": state, "previous": previous})
        message = alarm_posted(changed, key="payment-", target="payment", runbook=runbook, marker="m", alarm_since=T0)
        assert_inert(check(message), name, reason, description)
