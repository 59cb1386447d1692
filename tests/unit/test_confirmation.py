"""Confirmation prompts: the prompt and its expiry job, Confirm by the requester, Cancel, expiry, someone else
clicking, tampering. Approval requests: what the ack does with a Reject (from its static lists)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from datetime import timedelta
from typing import Any

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.clicks import accept_approval_click
from ack_function.handler import handle
from ack_function.payloads import ActionClick
from shared.commands import NoticeArgs, SettleArgs
from shared.commands.builtin.migrate import MigrateArgs
from shared.confirm import CANCEL_ACTION, CONFIRM_ACTION, CONFIRM_TTL_S, REJECT_ACTION, seal, unseal
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester, utcnow
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_policy import POLICY_TOML

SECRET = "test-signing-secret"
ACTION_URL = "https://hooks.slack.com/actions/T0001/5555/efgh"
INVENTORY = Inventory.from_toml(
    POLICY_TOML + '\n[[policy.rules]]\nname = "alice-migrates"\ncommands = ["/ops-migrate"]\nusers = ["U0ALICE"]\n'
)


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue: RecordingQueue) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue, INVENTORY))


COMMAND_URL = "https://hooks.slack.com/commands/T0001/1234/abcd"


def prompt(handler: SlackRequestHandler, queue: RecordingQueue | None = None) -> dict[str, Any]:
    """The prompt's ack body; with `queue`, the expiry job queued with it is taken off (the tests of clicks)."""
    body = slash_body(
        "/ops-migrate", "payment 2024.06.1", user_id="U0ALICE", channel_id="C0OPS", response_url=COMMAND_URL
    )
    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200
    if queue is not None:
        [expiry] = queue.jobs
        assert isinstance(expiry.args, SettleArgs) and expiry.args.outcome == "expired"
        queue.jobs.clear()
    return dict(json.loads(response["body"]))


def button(ack_body: dict[str, Any], action_id: str) -> dict[str, Any]:
    [actions] = [b for b in ack_body["blocks"] if b["type"] == "actions"]
    return dict(next(e for e in actions["elements"] if e["action_id"] == action_id))


def click(handler: SlackRequestHandler, action_id: str, value: str, user: str = "U0ALICE", secret: str = SECRET) -> int:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0001"},
        "team": {"id": "T0001"},
        "channel": {"id": "C0OPS"},
        "api_app_id": "A123456",
        "trigger_id": f"777.888.{action_id}{user}",
        "response_url": ACTION_URL,
        "container": {"type": "message", "is_ephemeral": True},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "opsbot_confirm", "value": value}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return int(handle(handler, load_event("http_api_v2", body, secret), FakeLambdaContext())["statusCode"])


def test_a_command_that_needs_confirming_answers_with_an_ephemeral_prompt_and_queues_only_its_expiry(handler, queue):
    ack_body = prompt(handler)

    assert ack_body["response_type"] == "ephemeral"
    assert "Run `/ops-migrate payment 2024.06.1` on *prod*?" in ack_body["text"]
    assert button(ack_body, CONFIRM_ACTION)["text"]["text"] == "Confirm"
    assert button(ack_body, CANCEL_ACTION)["text"]["text"] == "Cancel"
    [expiry] = queue.jobs  # nothing runs: only the job that replaces the prompt if nobody answers it
    assert isinstance(expiry.args, SettleArgs) and expiry.args.outcome == "expired"
    assert expiry.args.target == "payment" and expiry.args.approval is False
    assert expiry.args.not_before >= expiry.issued_at.timestamp() + CONFIRM_TTL_S
    assert expiry.response_url == COMMAND_URL and expiry.replace_original
    sealed = unseal(button(ack_body, CONFIRM_ACTION)["value"], SECRET, "confirm", now=utcnow())
    assert expiry.args.prompt_id == sealed.job_id  # the job a Confirm queues: one decision between them


def test_the_prompt_is_shown_even_when_its_expiry_cannot_be_queued(handler, queue):
    queue.fail = True

    ack_body = prompt(handler)

    assert button(ack_body, CONFIRM_ACTION)["text"]["text"] == "Confirm" and queue.jobs == []


def test_confirm_by_the_requester_queues_the_job_that_replaces_the_prompt(handler, queue):
    token = button(prompt(handler, queue), CONFIRM_ACTION)["value"]

    assert click(handler, CONFIRM_ACTION, token) == 200

    [job] = queue.jobs
    assert job.args == MigrateArgs(target="payment", version="2024.06.1")
    assert job.confirmed_by == "U0ALICE" and job.replace_original and job.response_url == ACTION_URL


def test_a_second_click_is_the_same_job(handler, queue):
    token = button(prompt(handler, queue), CONFIRM_ACTION)["value"]
    click(handler, CONFIRM_ACTION, token)
    click(handler, CONFIRM_ACTION, token)

    assert len({job.job_id for job in queue.jobs}) == 1


def notice_text(queue: RecordingQueue) -> str:
    [job] = queue.jobs
    assert isinstance(job.args, NoticeArgs) and job.replace_original and job.response_url == ACTION_URL
    return job.args.text


def test_cancel_queues_the_settlement_of_the_prompt_through_the_clicks_response_url(handler, queue):
    token = button(prompt(handler, queue), CANCEL_ACTION)["value"]

    assert click(handler, CANCEL_ACTION, token) == 200

    [settle] = queue.jobs  # the worker decides "cancelled" unless it was confirmed or expired first
    assert isinstance(settle.args, SettleArgs)
    assert (settle.args.outcome, settle.args.by, settle.args.target) == ("cancelled", "U0ALICE", "payment")
    assert settle.replace_original and settle.response_url == ACTION_URL


def test_someone_else_cannot_confirm(handler, queue):
    token = button(prompt(handler, queue), CONFIRM_ACTION)["value"]

    click(handler, CONFIRM_ACTION, token, user="U0MALLORY")

    assert "only the person who asked can confirm" in notice_text(queue)


def test_an_expired_prompt_cannot_be_confirmed(handler, queue):
    token = button(prompt(handler, queue), CONFIRM_ACTION)["value"]
    job = unseal(token, SECRET, "confirm", now=utcnow())
    old = utcnow() - timedelta(seconds=CONFIRM_TTL_S + 1)
    expired = seal(job.model_copy(update={"issued_at": old}), SECRET, "confirm")

    click(handler, CONFIRM_ACTION, expired)

    assert "expired" in notice_text(queue)


def retarget(token: str) -> str:
    """The same MAC over a ciphertext the client changed (a bit flipped: what a stream cipher would let through)."""
    parts = token.split(".")
    ciphertext = bytearray(base64.urlsafe_b64decode(parts[6] + "==="))
    ciphertext[40] ^= 0x01
    parts[6] = base64.urlsafe_b64encode(bytes(ciphertext)).decode().rstrip("=")
    return ".".join(parts)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(retarget, id="target-changed"),
        pytest.param(lambda t: t[:-4] + ("0000" if not t.endswith("0000") else "1111"), id="mac-changed"),
        pytest.param(lambda t: t.split(".")[0], id="mac-dropped"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_a_job_altered_by_the_client_is_refused(forge, handler, queue):
    token = button(prompt(handler, queue), CONFIRM_ACTION)["value"]

    click(handler, CONFIRM_ACTION, forge(token))

    assert "not accepted" in notice_text(queue)


def test_a_click_signed_with_another_secret_is_refused_and_queues_nothing(handler, queue):
    token = button(prompt(handler, queue), CONFIRM_ACTION)["value"]

    assert click(handler, CONFIRM_ACTION, token, secret="another-secret") == 401
    assert queue.jobs == []


def test_a_mention_is_no_way_around_confirmation(queue):
    from ack_function.intake import accept_mention
    from ack_function.payloads import MentionEvent

    event = MentionEvent(
        team_id="T0001", event_id="Ev9", user="U0ALICE", channel="C0OPS", text="<@U0BOT> ops-migrate payment", ts="1.2"
    )

    job = accept_mention(event, queue, inventory=INVENTORY)

    assert isinstance(job.args, NoticeArgs) and "type it as a slash command" in job.args.text
    assert [type(j.args) for j in queue.jobs] == [NoticeArgs]


def approval_inventory(approvers: str) -> Inventory:
    """/ops-migrate on prod by U0ALICE needs the approval of `approvers` (a TOML list)."""
    return Inventory.from_toml(
        POLICY_TOML + '\n[[policy.rules]]\nname = "dba-migrate-prod"\ncommands = ["/ops-migrate"]\n'
        f'environments = ["prod"]\nusers = ["U0ALICE"]\napprovers = {approvers}\napproval_channel = "C0APPROVALS"\n'
    )


def approval_click(queue: RecordingQueue, action_id: str, user: str, approvers: str) -> list[JobEnvelope]:
    """`user` clicks `action_id` on the approval request of U0ALICE's `/ops-migrate payment 2024.06.1`."""
    job = JobEnvelope(
        job_id="job-awaiting-approval",
        command="/ops-migrate",
        text="payment 2024.06.1",
        args=MigrateArgs(target="payment", version="2024.06.1"),
        requester=Requester(user_id="U0ALICE", team_id="T0001", channel_id="C0OPS"),
        response_url=COMMAND_URL,
        issued_at=utcnow(),
        correlation_id="job-awaiting-approval",
    )
    click = ActionClick(
        action_id=action_id,
        value=seal(job, SECRET, "reject" if action_id == REJECT_ACTION else "approve"),
        user_id=user,
        team_id="T0001",
        channel_id="C0APPROVALS",
        response_url=ACTION_URL,
        trigger_id=f"1.2.{user}",
    )
    return accept_approval_click(click, queue, signing_secret=SECRET, inventory=approval_inventory(approvers))


@pytest.mark.parametrize(
    ("user", "approvers"),
    [
        pytest.param("U0DAN", '["U0DAN"]', id="a-listed-approver"),
        pytest.param("U0ALICE", '["U0DAN"]', id="the-requester-withdrawing"),
        pytest.param("U0EVE", '["U0DAN", "S0DBA"]', id="only-a-user-group-could-say"),
    ],
)
def test_a_reject_the_ack_cannot_refuse_queues_the_rejection_for_the_worker(queue, user, approvers):
    [settle] = approval_click(queue, REJECT_ACTION, user, approvers)

    assert queue.jobs == [settle] and isinstance(settle.args, SettleArgs)
    assert (settle.args.outcome, settle.args.by, settle.args.approval) == ("rejected", user, True)
    assert settle.args.prompt_id == "job-awaiting-approval" and settle.response_url == COMMAND_URL


def test_a_reject_by_someone_the_static_lists_rule_out_is_refused_to_them_alone(queue):
    [notice] = approval_click(queue, REJECT_ACTION, "U0EVE", '["U0DAN"]')

    assert [type(j.args) for j in queue.jobs] == [NoticeArgs]  # no settle job: nothing is decided
    assert isinstance(notice.args, NoticeArgs)
    assert "That rejection was not accepted: you are not one of this request's approvers" in notice.args.text
    assert notice.response_url == ACTION_URL and not notice.replace_original  # the request keeps its buttons
    assert notice.requester.user_id == "U0EVE"


def test_rejections_by_two_people_are_two_jobs_and_a_repeated_click_is_one(queue):
    """The worker may refuse one rejection (not in the group) and accept another: neither stands in for the other."""
    approval_click(queue, REJECT_ACTION, "U0EVE", '["S0DBA"]')
    approval_click(queue, REJECT_ACTION, "U0DAN", '["S0DBA"]')
    approval_click(queue, REJECT_ACTION, "U0DAN", '["S0DBA"]')

    assert len({job.job_id for job in queue.jobs}) == 2
