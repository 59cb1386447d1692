"""Prompt tokens: encrypted (no response_url readable in a button), bound to their purpose, requester, team and
expiry under the MAC; Cancel only by the requester; a token is refused by every other button."""

from __future__ import annotations

import base64
import itertools
import json
import urllib.parse
from datetime import timedelta

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands import NoticeArgs, SettleArgs
from shared.commands.builtin.migrate import MigrateArgs
from shared.confirm import PURPOSES, ConfirmationError, ConfirmationExpiredError, seal, unseal
from shared.jobs import JobEnvelope, Requester, utcnow
from tests.events import load_event
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_confirmation import COMMAND_URL, INVENTORY, SECRET, button, prompt


def fresh_job() -> JobEnvelope:
    """A job awaiting a decision, issued now (a token's expiry counts from its request)."""
    return JobEnvelope(
        job_id="job-with-a-secret-url",
        command="/ops-migrate",
        text="payment 2024.06.1",
        args=MigrateArgs(target="payment", version="2024.06.1"),
        requester=Requester(user_id="U0ALICE", team_id="T0001", channel_id="C0OPS"),
        response_url=COMMAND_URL,
        issued_at=utcnow(),
        correlation_id="job-with-a-secret-url",
    )


@pytest.fixture
def job() -> JobEnvelope:
    return fresh_job()


@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_token_hides_the_job_and_its_response_url(purpose, job):
    token = seal(job, SECRET, purpose)

    readable = [token, *(_decoded(part) for part in token.split("."))]
    assert not any("hooks.slack.com" in r or "abcd" in r or "payment" in r for r in readable)
    assert len(token) <= 2000
    assert unseal(token, SECRET, purpose, now=utcnow()) == job


def _decoded(part: str) -> str:
    try:
        return base64.urlsafe_b64decode(part + "===").decode("latin-1")
    except ValueError:
        return part


@pytest.mark.parametrize(("made_for", "used_for"), [p for p in itertools.permutations(PURPOSES, 2)])
def test_a_token_for_one_purpose_is_refused_for_every_other(made_for, used_for, job):
    with pytest.raises(ConfirmationError, match="not for this action"):
        unseal(seal(job, SECRET, made_for), SECRET, used_for, now=utcnow())


def test_a_token_from_another_workspace_is_refused(job):
    with pytest.raises(ConfirmationError, match="another workspace"):
        unseal(seal(job, SECRET, "approve"), SECRET, "approve", now=utcnow(), team_id="T0OTHER")


@pytest.mark.parametrize(("field", "value"), [(1, "approve"), (2, "T0OTHER"), (3, "U0MALLORY"), (4, "99999999999")])
def test_a_token_whose_purpose_team_requester_or_expiry_was_changed_is_refused(field, value, job):
    parts = seal(job, SECRET, "confirm").split(".")
    parts[field] = value

    with pytest.raises(ConfirmationError, match="valid signature"):
        unseal(".".join(parts), SECRET, "approve" if field == 1 else "confirm", now=utcnow())


def test_a_token_is_refused_after_its_expiry_and_each_purpose_has_its_own(job):
    confirm, approve = seal(job, SECRET, "confirm"), seal(job, SECRET, "approve")
    later = utcnow() + timedelta(minutes=10)

    with pytest.raises(ConfirmationExpiredError):
        unseal(confirm, SECRET, "confirm", now=later)
    assert unseal(approve, SECRET, "approve", now=later) == job


def test_two_tokens_of_one_job_differ_and_another_secret_opens_neither(job):
    first, second = seal(job, SECRET, "confirm"), seal(job, SECRET, "confirm")

    assert first != second  # a fresh nonce each time
    with pytest.raises(ConfirmationError):
        unseal(first, "another-secret", "confirm", now=utcnow())


# -- through the ack, as signed requests ----------------------------------------------------------


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def handler(queue) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue, INVENTORY))


def click(handler, action_id: str, value: str, user: str, *, user_team: str = "T0001") -> int:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": user_team},
        "team": {"id": "T0001"},
        "channel": {"id": "C0OPS"},
        "trigger_id": f"9.9.{action_id}{user}",
        "response_url": "https://hooks.slack.com/actions/T0001/1/x",
        "actions": [{"type": "button", "action_id": action_id, "value": value}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return int(handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())["statusCode"])


def notice(queue: RecordingQueue) -> str:
    [job] = queue.jobs
    assert isinstance(job.args, NoticeArgs)
    return job.args.text


def test_the_prompts_buttons_carry_different_tokens_and_no_readable_response_url(handler, queue):
    ack_body = prompt(handler, queue)

    confirm, cancel = button(ack_body, "opsbot_confirm")["value"], button(ack_body, "opsbot_cancel")["value"]
    assert confirm != cancel and "hooks.slack.com" not in json.dumps(ack_body["blocks"])


def test_cancel_by_someone_else_is_refused_and_settles_nothing(handler, queue):
    token = button(prompt(handler, queue), "opsbot_cancel")["value"]

    assert click(handler, "opsbot_cancel", token, "U0MALLORY") == 200

    assert "only the person who asked can cancel" in notice(queue)
    assert not any(isinstance(j.args, SettleArgs) for j in queue.jobs)


def test_the_confirm_token_pressed_as_cancel_is_refused(handler, queue):
    token = button(prompt(handler, queue), "opsbot_confirm")["value"]

    click(handler, "opsbot_cancel", token, "U0ALICE")

    assert "not for this action" in notice(queue)


def test_a_confirm_token_is_not_accepted_by_the_approve_action(handler, queue):
    token = button(prompt(handler, queue), "opsbot_confirm")["value"]

    click(handler, "opsbot_approve", token, "U0DAN")

    assert "not for this action" in notice(queue)
    assert all(j.approved_by is None for j in queue.jobs)


def test_an_approval_click_by_a_person_of_another_workspace_is_refused(handler, queue, job):
    click(handler, "opsbot_approve", seal(job, SECRET, "approve"), "U0DAN", user_team="T0PARTNER")

    assert "members of this workspace" in notice(queue)
    assert all(j.approved_by is None for j in queue.jobs)
