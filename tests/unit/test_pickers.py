"""Pickers, as real signed requests: a command given without its target answers with a select of what this
person may use; a choice runs the command exactly as if typed (same checks, job id from the click)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from ack_function.pickers import PICK_BLOCK, SINCE_ACTION
from shared.commands import ApprovalRequestArgs, AuditNoteArgs, NoticeArgs
from shared.commands.builtin.logs import LogsArgs
from shared.commands.builtin.restart import RestartArgs
from shared.inventory import Inventory
from shared.jobs import job_id_for
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_policy import POLICY_TOML

SECRET = "picker-secret"
CLICK_URL = "https://hooks.slack.com/actions/T0001/55/picked"


def handler_for(queue: RecordingQueue, inventory: Inventory | None) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue, inventory))


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue: RecordingQueue) -> SlackRequestHandler:
    return handler_for(queue, Inventory.from_toml(POLICY_TOML))


def command(handler: SlackRequestHandler, name: str, text: str = "", channel: str = "C0OPS") -> dict[str, Any]:
    body = slash_body(name, text, channel_id=channel, user_id="U0ALICE")
    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200, response
    return dict(json.loads(response["body"]))


def select(ack_body: dict[str, Any], action_id: str) -> dict[str, Any]:
    [actions] = [b for b in ack_body["blocks"] if b["type"] == "actions"]
    return dict(next(e for e in actions["elements"] if e["action_id"] == action_id))


def values(element: dict[str, Any]) -> list[str]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group["options"]
    return [o["value"] for o in options]


def pick(
    handler: SlackRequestHandler,
    action_id: str,
    choice: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0OPS",
    since: str | None = None,
    trigger: str = "999.111.picked",
    user_team: str = "T0001",
) -> int:
    state: dict[str, Any] = {}
    if since is not None:
        chosen = {"type": "static_select", "selected_option": {"value": since}}
        state = {PICK_BLOCK: {SINCE_ACTION: chosen}}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "team_id": user_team},
        "team": {"id": "T0001"},
        "channel": {"id": channel},
        "api_app_id": "A123456",
        "trigger_id": trigger,
        "response_url": CLICK_URL,
        "container": {"type": "message", "is_ephemeral": True},
        "actions": [
            {
                "type": "static_select",
                "action_id": action_id,
                "block_id": PICK_BLOCK,
                "selected_option": {"text": {"type": "plain_text", "text": choice}, "value": choice},
            }
        ],
        "state": {"values": state},
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return int(handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())["statusCode"])


def only_notice(queue: RecordingQueue) -> str:
    notices = [job for job in queue.jobs if isinstance(job.args, NoticeArgs)]
    assert len(notices) == 1, queue.jobs
    assert notices[0].response_url == CLICK_URL and notices[0].replace_original
    return notices[0].args.text


# -- the picker ------------------------------------------------------------------------------------


def test_a_restart_without_target_answers_with_a_select_grouped_by_environment_and_queues_nothing(handler, queue):
    answer = command(handler, "/ops-restart")

    element = select(answer, "opsbot_pick:/ops-restart")
    assert element["type"] == "static_select"
    assert [g["label"]["text"] for g in element["option_groups"]] == ["prod", "staging"]
    assert values(element) == ["payment", "checkout"]
    assert answer["response_type"] == "ephemeral"
    assert queue.jobs == []


def test_the_picker_leaves_out_what_the_policy_refuses_this_person_here(handler, queue):
    # sre-restart-prod admits only #ops (C0OPS): from another channel payment is refused, checkout is not.
    answer = command(handler, "/ops-restart", channel="C0ELSE")

    element = select(answer, "opsbot_pick:/ops-restart")
    assert values(element) == ["checkout"]
    assert "option_groups" not in element


def test_nothing_usable_says_so_without_a_select(queue):
    inventory = Inventory.from_toml('[targets.web]\nenvironment = "prod"\necs = { cluster = "c", service = "web" }\n')
    answer = command(handler_for(queue, inventory), "/ops-restart")

    assert not [b for b in answer["blocks"] if b["type"] == "actions"]
    assert "no target you may use" in answer["text"]
    assert queue.jobs == []


def test_logs_offers_a_since_choice_before_the_target(handler):
    answer = command(handler, "/ops-logs")

    [actions] = [b for b in answer["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [SINCE_ACTION, "opsbot_pick:/ops-logs"]
    since = actions["elements"][0]
    assert since["initial_option"]["value"] == "15m"
    assert values(since) == ["15m", "1h", "6h", "1d", "7d"]


def test_without_an_inventory_a_missing_target_is_the_usage_answer(queue):
    answer = command(handler_for(queue, None), "/ops-restart")

    assert "Usage" in answer["text"] and "blocks" in answer
    assert not [b for b in answer["blocks"] if b["type"] == "actions"]


def test_a_command_that_needs_confirming_gets_no_picker(handler):
    answer = command(handler, "/ops-migrate")

    assert "Usage" in answer["text"]
    assert not [b for b in answer["blocks"] if b["type"] == "actions"]


def test_long_lists_stay_within_slacks_limits_and_say_how_many_are_left_out(queue):
    long_name = "s" + "x" * 200  # a valid target name, too long for an option's value
    lines = [f'[targets.svc{i:03d}]\necs = {{ cluster = "c", service = "svc{i:03d}" }}\n' for i in range(130)]
    lines.append(f'[targets.{long_name}]\necs = {{ cluster = "c", service = "long" }}\n')
    lines.append('[targets.p1]\nenvironment = "dev"\necs = { cluster = "c", service = "p1" }\n')
    answer = command(handler_for(queue, Inventory.from_toml("".join(lines))), "/ops-restart")

    element = select(answer, "opsbot_pick:/ops-restart")
    shown = values(element)
    assert len(shown) == 100
    assert all(len(v) <= 150 for v in shown)
    texts = [
        o["text"]["text"]
        for g in element.get("option_groups", [{"options": element.get("options", [])}])
        for o in g["options"]
    ]
    assert all(len(t) <= 75 for t in texts)
    assert "32 more targets do not fit" in json.dumps(answer)


# -- the choice ------------------------------------------------------------------------------------


def test_a_choice_queues_the_command_as_typed_with_the_clicks_job_id_replacing_the_picker(handler, queue):
    assert pick(handler, "opsbot_pick:/ops-restart", "payment") == 200

    [job] = queue.jobs
    assert job.args == RestartArgs(target="payment")
    assert job.command == "/ops-restart" and job.text == "payment"
    assert job.requester.user_id == "U0ALICE" and job.requester.channel_id == "C0OPS"
    assert job.job_id == job_id_for("T0001", "999.111.picked")
    assert job.response_url == CLICK_URL and job.replace_original


def test_the_same_click_delivered_twice_is_the_same_job(handler, queue):
    pick(handler, "opsbot_pick:/ops-restart", "checkout")
    pick(handler, "opsbot_pick:/ops-restart", "checkout")

    assert len({job.job_id for job in queue.jobs}) == 1


def test_logs_reads_the_since_choice_from_the_clicks_state(handler, queue):
    pick(handler, "opsbot_pick:/ops-logs", "checkout", since="6h")
    pick(handler, "opsbot_pick:/ops-logs", "checkout", trigger="999.111.other")

    assert [job.args for job in queue.jobs] == [
        LogsArgs(target="checkout", since_minutes=360),
        LogsArgs(target="checkout", since_minutes=15),
    ]


def test_choosing_how_far_back_alone_queues_nothing(handler, queue):
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE", "team_id": "T0001"},
        "team": {"id": "T0001"},
        "trigger_id": "1.2.3",
        "actions": [{"type": "static_select", "action_id": SINCE_ACTION, "selected_option": {"value": "1h"}}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    assert handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())["statusCode"] == 200
    assert queue.jobs == []


def test_a_choice_the_policy_refuses_is_refused_as_if_typed(handler, queue):
    # payment was not offered in C0ELSE; a forged choice of it gets the typed command's denial.
    pick(handler, "opsbot_pick:/ops-restart", "payment", channel="C0ELSE")

    assert "denied by rule" in only_notice(queue) and "sre-restart-prod" in only_notice(queue)
    assert [type(job.args) for job in queue.jobs if not isinstance(job.args, NoticeArgs)] == [AuditNoteArgs]


def test_a_choice_of_a_target_removed_since_gets_the_unknown_target_answer(handler, queue):
    pick(handler, "opsbot_pick:/ops-restart", "billing")

    text = only_notice(queue)
    assert "I don't know target 'billing'" in text and "payment" in text
    assert len(queue.jobs) == 1


@pytest.mark.parametrize(
    ("choice", "since"),
    [
        pytest.param("payment --since 7d", None, id="words-in-the-choice"),
        pytest.param("checkout", "1h badword", id="words-in-since"),
        pytest.param("checkout", "99y", id="not-a-duration"),
    ],
)
def test_a_forged_choice_is_refused_with_the_usage(handler, queue, choice, since):
    pick(handler, "opsbot_pick:/ops-logs", choice, since=since)

    assert "Usage" in only_notice(queue)
    assert len(queue.jobs) == 1


def test_a_click_for_a_command_that_needs_confirming_is_no_way_around_the_prompt(queue):
    ledger = '[targets.ledger]\necs = { cluster = "c", service = "ledger" }\nmigration = { codebuild_project = "lm" }\n'
    pick(handler_for(queue, Inventory.from_toml(POLICY_TOML + ledger)), "opsbot_pick:/ops-migrate", "ledger")

    assert "must be confirmed or approved first" in only_notice(queue)
    assert len(queue.jobs) == 1


def test_a_choice_by_someone_of_another_workspace_is_refused(handler, queue):
    pick(handler, "opsbot_pick:/ops-restart", "checkout", user_team="T0OTHER")

    assert "members of this workspace" in only_notice(queue)
    assert len(queue.jobs) == 1


def test_a_choice_that_needs_approval_asks_for_it_like_the_typed_command(queue):
    approval = """
[[policy.rules]]
name = "checkout-restart-approved"
commands = ["/ops-restart"]
environments = ["staging"]
approvers = ["U0DANA"]
approval_channel = "C0APPROVALS"
"""
    handler = handler_for(queue, Inventory.from_toml(POLICY_TOML + approval))
    pick(handler, "opsbot_pick:/ops-restart", "checkout")

    [request] = [job for job in queue.jobs if isinstance(job.args, ApprovalRequestArgs)]
    assert request.args.channel == "C0APPROVALS"
    assert "approval" in only_notice(queue).lower()
    assert not [job for job in queue.jobs if isinstance(job.args, RestartArgs)]


@pytest.mark.parametrize("action_id", ["opsbot_pick:/ops-nope", "opsbot_pick:", "opsbot_pick:" + "<!channel>" * 30])
def test_a_click_naming_no_command_is_answered_with_the_commands_and_runs_nothing(handler, queue, action_id):
    assert pick(handler, action_id, "payment") in (200, 400)

    assert not [job for job in queue.jobs if not isinstance(job.args, NoticeArgs)]
    if queue.jobs:
        text = only_notice(queue)
        assert "<!channel>" not in text and "`/ops-restart &lt;target&gt;`" in text


def test_the_answer_to_a_choice_has_its_own_job_id_so_the_approved_job_keeps_the_clicks(queue):
    approval = """
[[policy.rules]]
name = "checkout-restart-approved"
commands = ["/ops-restart"]
environments = ["staging"]
approvers = ["U0DANA"]
approval_channel = "C0APPROVALS"
"""
    pick(handler_for(queue, Inventory.from_toml(POLICY_TOML + approval)), "opsbot_pick:/ops-restart", "checkout")

    [notice] = [job for job in queue.jobs if isinstance(job.args, NoticeArgs)]
    [request] = [job for job in queue.jobs if isinstance(job.args, ApprovalRequestArgs)]
    assert request.args.job_id == job_id_for("T0001", "999.111.picked")
    assert notice.job_id not in (request.args.job_id, request.job_id)


TWO_PERSON_SCALE = """
[[policy.rules]]
name = "scale-prod-needs-two"
commands = ["/ops-scale", "/ops-rollback"]
environments = ["prod"]
users = ["U0ALICE"]
approvers = ["U0DANA"]
approval_channel = "C0APPROVALS"
"""


def test_a_pick_of_a_command_to_confirm_under_a_two_person_rule_asks_for_the_requesters_confirm_first(queue):
    """Where a second person must approve, a click on a rollback still needs its requester's own Confirm first:
    no approval request is sent from the click, the clicker is told to type the command."""
    picker = handler_for(queue, Inventory.from_toml(POLICY_TOML + TWO_PERSON_SCALE))
    pick(picker, "opsbot_pick:/ops-rollback", "payment")

    assert not [j for j in queue.jobs if isinstance(j.args, ApprovalRequestArgs)]
    assert "must be confirmed or approved first" in only_notice(queue)


def test_unfreeze_alone_asks_for_an_environment_not_a_target(handler, queue):
    answer = command(handler, "/ops-unfreeze")

    element = select(answer, "opsbot_pick:/ops-unfreeze")
    assert element["placeholder"]["text"] == "Choose an environment"
    assert "Choose an environment for `/ops-unfreeze`" in answer["text"]
    assert "target" not in answer["text"].lower().replace("targets", "")
    assert queue.jobs == []
