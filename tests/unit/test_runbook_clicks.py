"""Runbook buttons under an alarm, clicked through the whole ack with real signed requests: the command runs as
the clicker exactly as if typed (same parsing, policy, audit of denials; job id from the trigger_id); anything
else is a clear ephemeral notice and nothing half-done."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.alarms import AlarmStateChange
from shared.commands import AuditNoteArgs, NoticeArgs
from shared.commands.builtin.logs import LogsArgs
from shared.commands.builtin.restart import RestartArgs
from shared.inventory import Inventory
from shared.jobs import job_id_for
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_policy import POLICY_TOML
from worker_function.alarm_message import alarm_posted

SECRET = "test-signing-secret"
ACTION_URL = "https://hooks.slack.com/actions/T0001/5555/efgh"
INVENTORY = Inventory.from_toml(
    POLICY_TOML
    + """
[[policy.rules]]
name = "alice-migrates"
commands = ["/ops-migrate"]
users = ["U0ALICE"]

[alarms.payment-5xx]
target = "payment"
channel = "C0OPS"
runbook = ["/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment", "/ops-migrate payment"]

[alarms."payment-"]
prefix = true
target = "payment"
channel = "C0ALERTS"
runbook = ["/ops-restart payment"]
"""
)


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue: RecordingQueue) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue, INVENTORY))


def buttons(key: str) -> list[dict[str, Any]]:
    """The runbook buttons of the message the worker posts for alarm key `key`."""
    alarm = AlarmStateChange(name=key, state="ALARM", changed_at=datetime(2026, 12, 1, tzinfo=UTC), via="sns")
    route = INVENTORY.alarms[key]
    message = alarm_posted(alarm, key=key, target=route.target, runbook=route.runbook, marker="m")
    [actions] = [b for b in message.blocks if b["type"] == "actions"]
    return list(actions["elements"])


def click(
    handler: SlackRequestHandler,
    button: dict[str, Any],
    *,
    user: str = "U0ALICE",
    channel: str = "C0OPS",
    trigger: str = "777.888.runbook",
    secret: str = SECRET,
) -> int:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0001"},
        "team": {"id": "T0001"},
        "channel": {"id": channel},
        "api_app_id": "A123456",
        "trigger_id": trigger,
        "response_url": ACTION_URL,
        "container": {"type": "message", "is_ephemeral": False},
        "actions": [{"type": "button", "block_id": "opsbot_runbook", **button}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return int(handle(handler, load_event("http_api_v2", body, secret), FakeLambdaContext())["statusCode"])


def test_a_click_queues_the_command_as_if_the_clicker_had_typed_it(handler, queue) -> None:
    # Given the alarm's "/ops-logs payment --since 30m ERROR" button, When Alice clicks it in the alarm's channel
    assert click(handler, buttons("payment-5xx")[1]) == 200
    # Then exactly the job the typed command would queue is queued, as Alice, answered through the click
    [job] = queue.jobs
    typed = RecordingQueue()
    typed_handler = SlackRequestHandler(build_app(SECRET, typed, INVENTORY))
    body = slash_body("/ops-logs", "payment --since 30m ERROR", user_id="U0ALICE", channel_id="C0OPS")
    assert handle(typed_handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())["statusCode"] == 200
    [typed_job] = typed.jobs
    assert isinstance(job.args, LogsArgs) and job.args == typed_job.args
    assert (job.command, job.text) == (typed_job.command, typed_job.text)
    assert job.requester.user_id == "U0ALICE" and job.requester.channel_id == "C0OPS"
    assert job.response_url == ACTION_URL and job.replace_original is False
    assert job.job_id == job_id_for("T0001", "777.888.runbook")


def test_the_same_click_twice_is_the_same_job(handler, queue) -> None:
    click(handler, buttons("payment-5xx")[0])
    click(handler, buttons("payment-5xx")[0])
    assert len({j.job_id for j in queue.jobs}) == 1
    click(handler, buttons("payment-5xx")[0], trigger="777.999.other")
    assert len({j.job_id for j in queue.jobs}) == 2


def test_a_mutating_runbook_command_goes_through_the_policy(handler, queue) -> None:
    # Alice may restart prod from C0OPS: queued
    click(handler, buttons("payment-5xx")[2])
    [job] = queue.jobs
    assert isinstance(job.args, RestartArgs) and job.args.target == "payment"
    queue.jobs.clear()
    # The same restart under the prefix alarm in C0ALERTS: the rule's channels refuse it, as they would typed
    assert click(handler, buttons("payment-")[0], channel="C0ALERTS") == 200
    kinds = [j.kind for j in queue.jobs]
    assert "restart" not in kinds
    [note] = [j for j in queue.jobs if isinstance(j.args, AuditNoteArgs)]  # the denial reaches the audit trail
    [notice] = [j for j in queue.jobs if isinstance(j.args, NoticeArgs)]
    assert "denied by rule" in notice.args.text and "sre-restart-prod" in notice.args.text
    # Answered to the clicker alone, never replacing the alarm message everyone sees
    assert notice.response_url == ACTION_URL and notice.replace_original is False
    assert note.args.target == "payment"


def test_a_command_that_needs_confirming_is_not_queued_from_a_click(handler, queue) -> None:
    click(handler, buttons("payment-5xx")[3])
    [notice] = queue.jobs  # no migration, no prompt expiry
    assert isinstance(notice.args, NoticeArgs) and "slash command" in notice.args.text


@pytest.mark.parametrize(
    ("value", "channel", "says"),
    [
        ('{"alarm": "payment-5xx", "entry": 9}', "C0OPS", "no longer in the inventory"),
        ('{"alarm": "search-down", "entry": 0}', "C0OPS", "no longer in the inventory"),
        ("/ops-restart payment", "C0OPS", "not a runbook button"),
        ('{"alarm": "payment-5xx", "entry": 2, "command": "/ops-restart checkout"}', "C0OPS", "not a runbook"),
        ('{"alarm": "payment-5xx", "entry": 2}', "C0ELSEWHERE", "only in their alarm's channel"),
    ],
)
def test_an_altered_or_stray_button_runs_nothing_and_says_why(handler, queue, value, channel, says) -> None:
    assert click(handler, {"action_id": "opsbot_runbook_0", "value": value}, channel=channel) == 200
    [notice] = queue.jobs
    assert isinstance(notice.args, NoticeArgs) and says in notice.args.text
    assert notice.replace_original is False


def test_a_click_that_fails_verification_queues_nothing(handler, queue) -> None:
    assert click(handler, buttons("payment-5xx")[0], secret="not-the-secret") == 401
    assert queue.jobs == []


def test_a_click_whose_job_cannot_be_queued_is_not_acked(queue) -> None:
    queue.fail = True
    failing = SlackRequestHandler(build_app(SECRET, queue, INVENTORY))
    assert click(failing, buttons("payment-5xx")[0]) >= 500
    assert queue.jobs == []


def test_a_runbook_click_on_a_command_to_confirm_under_a_two_person_rule_sends_no_approval_request(queue) -> None:
    """A scale button under an alarm, where a second person must approve: the requester's own Confirm comes
    first, so nothing goes to the approvers from a click; the clicker is told to type it."""
    from shared.commands import ApprovalRequestArgs

    inventory = Inventory.from_toml(
        POLICY_TOML
        + """
[[policy.rules]]
name = "scale-prod-needs-two"
commands = ["/ops-scale"]
environments = ["prod"]
users = ["U0ALICE"]
approvers = ["U0DANA"]
approval_channel = "C0APPROVALS"

[alarms.payment-5xx]
target = "payment"
channel = "C0OPS"
runbook = ["/ops-scale payment 4"]
"""
    )
    handler = SlackRequestHandler(build_app(SECRET, queue, inventory))
    alarm = AlarmStateChange(name="payment-5xx", state="ALARM", changed_at=datetime(2026, 12, 1, tzinfo=UTC), via="sns")
    posted = alarm_posted(alarm, key="payment-5xx", target="payment", runbook=["/ops-scale payment 4"], marker="m")
    [actions] = [b for b in posted.blocks if b["type"] == "actions"]

    assert click(handler, actions["elements"][0]) == 200

    assert not [j for j in queue.jobs if isinstance(j.args, ApprovalRequestArgs)]
    [notice] = queue.jobs
    assert isinstance(notice.args, NoticeArgs) and "slash command" in notice.args.text
