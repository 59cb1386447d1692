"""The worker's alarm piece against moto server DynamoDB and the local Slack API: one message per alarm,
updated in place, exactly once at Slack across a failed ts save, flapping rate-limited, unknown dropped."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from slack_sdk import WebClient

from infra.devstack.aws import aws_client
from shared.alarms import parse_alarm
from shared.inventory import Inventory
from tests.events import ALARM_SHAPES, EVENTS_DIR, IGNORED_ALARM_EVENTS, alarm_body
from worker_function.alarms import AlarmFeed, AlarmRecord, ChannelPacer, DynamoAlarmStore, post_alarm

INVENTORY = Inventory.from_toml(
    """
[targets.payment]
ecs = { cluster = "c", service = "payment" }
log_groups = ["/c/payment"]

[alarms."payment-"]
prefix = true
target = "payment"
channel = "C0ALERTS"
runbook = ["/ops-status payment", "/ops-logs payment --since 30m ERROR"]
"""
)


class LosesTheFirstSave(DynamoAlarmStore):
    """The real store, whose first save after posting fails (a crash between chat.postMessage and the ts)."""

    failed = False

    def save(self, name: str, record: AlarmRecord) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("lost the ts")
        super().save(name, record)


@pytest.fixture
def web(slack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url)


@pytest.fixture
def store(moto_server, tables) -> DynamoAlarmStore:
    return DynamoAlarmStore(tables.leases, client=aws_client("dynamodb", moto_server.endpoint_url))


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def _fire(shape: str, state: str, previous: str, at: str, **kw: Any) -> str:
    alarm = parse_alarm(alarm_body(shape, NewStateValue=state, OldStateValue=previous, StateChangeTime=at))
    return post_alarm(alarm, inventory=INVENTORY, **kw)


def test_alarm_then_ok_is_one_message_updated_saying_how_long(slack, web, store) -> None:
    clock = Clock()
    kw = {"slack": web, "store": store, "now": clock.now, "sleep": clock.sleep}
    assert _fire("sns", "ALARM", "OK", "2026-12-01T10:00:00.000+0000", **kw) == "posted"
    clock.t += 60
    assert _fire("eventbridge", "OK", "ALARM", "2026-12-01T10:42:00.000+0000", **kw) == "updated"
    posts = [m for m in slack.messages() if m.kind == "chat.postMessage"]
    updates = [m for m in slack.messages() if m.kind == "chat.update"]
    assert len(posts) == 1 and len(updates) == 1
    assert posts[0].channel == "C0ALERTS" and updates[0].ts == posts[0].ts
    shown = str(updates[0].payload["blocks"])
    assert "lasted *42m 0s*" in shown and "/ops-status payment" in shown
    assert clock.slept == []  # a minute apart: no wait


def test_a_redelivery_is_the_same_update_not_a_second_post(slack, web, store) -> None:
    kw = {"slack": web, "store": store}
    _fire("sns", "ALARM", "OK", "2026-12-01T10:00:00.000+0000", **kw, min_interval_s=0)
    _fire("sns", "ALARM", "OK", "2026-12-01T10:00:00.000+0000", **kw, min_interval_s=0)
    assert len([m for m in slack.messages() if m.kind == "chat.postMessage"]) == 1
    assert store.get("payment-5xx") is not None and store.get("payment-5xx").changes == 1


def test_a_lost_ts_save_is_reconciled_from_the_channel_not_posted_again(slack, web, moto_server, tables) -> None:
    # Given the message was posted but its ts never reached the table
    lossy = LosesTheFirstSave(tables.leases, client=aws_client("dynamodb", moto_server.endpoint_url))
    clock = Clock()
    with pytest.raises(ConnectionError):
        _fire("sns", "ALARM", "OK", "2026-12-01T10:00:00.000+0000", slack=web, store=lossy, now=clock.now)
    # When SQS delivers the notification again (after the visibility timeout: past any invocation's run)
    clock.t += 720
    again = _fire("sns", "ALARM", "OK", "2026-12-01T10:00:00.000+0000", slack=web, store=lossy, now=clock.now)
    assert again == "updated"
    # Then the message found by its marker is updated: still one post
    posts = [m for m in slack.messages() if m.kind == "chat.postMessage"]
    [update] = [m for m in slack.messages() if m.kind == "chat.update"]
    assert len(posts) == 1 and update.ts == posts[0].ts
    assert lossy.get("payment-5xx").ts == posts[0].ts  # type: ignore[union-attr]


def test_a_flapping_alarm_is_one_message_updated_at_most_once_a_second(slack, web, store) -> None:
    clock = Clock()
    kw = {"slack": web, "store": store, "now": clock.now, "sleep": clock.sleep}
    states = [("ALARM", "OK"), ("OK", "ALARM")] * 3
    for i, (state, previous) in enumerate(states):
        _fire("sns", state, previous, f"2026-12-01T10:00:0{i}.000+0000", **kw)
    assert len([m for m in slack.messages() if m.kind == "chat.postMessage"]) == 1
    assert len([m for m in slack.messages() if m.kind == "chat.update"]) == 5
    assert len(clock.slept) == 5 and all(0 < s <= 1.0 for s in clock.slept)
    assert "6 state changes" in str(slack.messages()[-1].payload["blocks"])


def test_alarms_of_one_channel_flapping_together_are_spaced_a_second_apart(slack, web, store) -> None:
    clock = Clock()
    kw = {"slack": web, "store": store, "now": clock.now, "sleep": clock.sleep, "pacer": ChannelPacer()}
    for i, name in enumerate(["payment-5xx", "payment-latency", "payment-errors"]):
        alarm = parse_alarm(alarm_body("sns", AlarmName=name, StateChangeTime=f"2026-12-01T10:00:0{i}.000+0000"))
        assert post_alarm(alarm, inventory=INVENTORY, **kw) == "posted"  # three alarms: three messages
    assert [m.channel for m in slack.messages() if m.kind == "chat.postMessage"] == ["C0ALERTS"] * 3
    assert len(clock.slept) == 2 and all(0 < s <= 1.0 for s in clock.slept)  # each waited for the channel


def test_an_older_change_arriving_late_is_skipped(slack, web, store) -> None:
    kw = {"slack": web, "store": store, "min_interval_s": 0}
    _fire("sns", "OK", "ALARM", "2026-12-01T10:30:00.000+0000", **kw)
    assert _fire("sns", "ALARM", "OK", "2026-12-01T10:00:00.000+0000", **kw) == "stale"
    assert len(slack.messages()) == 1


def test_an_unknown_alarm_is_dropped(slack, web, store) -> None:
    alarm = parse_alarm(alarm_body("sns", AlarmName="search-down"))
    assert post_alarm(alarm, inventory=INVENTORY, slack=web, store=store) == "dropped"
    assert slack.messages() == [] and store.get("search-down") is None


@pytest.mark.parametrize("shape", ALARM_SHAPES)
def test_the_queue_handler_shows_an_alarm_from_every_route(slack, web, store, shape) -> None:
    feed = AlarmFeed(INVENTORY, web, store)
    assert feed.handle(alarm_body(shape)) is True  # an alarm: never handed to the job executor
    [posted] = slack.messages()
    assert posted.kind == "chat.postMessage" and posted.channel == "C0ALERTS"


@pytest.mark.parametrize("sample", IGNORED_ALARM_EVENTS)
def test_contributor_and_configuration_events_are_dropped_not_dead_lettered(slack, web, store, sample, caplog) -> None:
    # Given CloudWatch's other alarm events, as a rule matching all of them would deliver them
    body = (EVENTS_DIR / f"{sample}.json").read_text()
    feed = AlarmFeed(INVENTORY, web, store)
    with caplog.at_level(logging.INFO, logger="worker_function.alarms"):
        # When the worker handles it, Then it is taken (deleted from the queue), not rejected to the DLQ by the
        # job executor, and nothing is shown or stored
        assert feed.handle(body) is True
    assert slack.messages() == [] and store.get("payment-5xx") is None
    assert json.loads(body)["detail-type"] in caplog.text and "dropped" in caplog.text


def test_the_same_change_by_sns_and_by_eventbridge_is_shown_once(slack, web, store) -> None:
    feed = AlarmFeed(INVENTORY, web, store)
    at = "2026-12-01T10:00:00.000+0000"
    for shape in ALARM_SHAPES:
        assert feed.handle(alarm_body(shape, StateChangeTime=at)) is True
    assert [m.kind for m in slack.messages()] == ["chat.postMessage"]
    assert store.get("payment-5xx").changes == 1  # type: ignore[union-attr]


def test_an_unroutable_alarm_is_not_dropped_silently(slack, web, store, caplog, capsys, monkeypatch) -> None:
    """No channel shows it: an error log line names it and what is routed, and `AlarmsDropped` counts it."""
    import json as _json

    from aws_lambda_powertools import Metrics

    from worker_function.alarms import AlarmFeed

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics = Metrics(namespace="opsbot-test", service="opsbot-worker")
    feed = AlarmFeed(INVENTORY, web, store, metrics=metrics)

    with caplog.at_level("ERROR", logger="worker_function.alarms"):
        assert feed.handle(alarm_body("sns", AlarmName="paymnt-5xx")) is True

    assert slack.messages() == []
    [line] = [r for r in caplog.records if "paymnt-5xx" in r.getMessage()]
    assert line.levelname == "ERROR" and "not in the inventory's [alarms]" in line.getMessage()
    assert "payment-" in line.getMessage()
    emitted = [_json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    dropped = [e for e in emitted if "AlarmsDropped" in e]
    assert len(dropped) == 1 and dropped[0]["AlarmsDropped"] in (1.0, [1.0])
    assert dropped[0]["reason"] == "not in the inventory" and dropped[0]["service"] == "opsbot-worker"
