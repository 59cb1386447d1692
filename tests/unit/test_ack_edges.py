"""What the ack refuses before queueing, as signed requests: bots and other workspaces, unknown targets, build
parameters the inventory does not allow (and Jenkins' reserved names always); what it echoes is short, escaped
and in plain words."""

from __future__ import annotations

import json

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands import NoticeArgs
from shared.commands.builtin.build import BuildArgs
from shared.commands.builtin.deploy_status import DeployStatusArgs
from shared.commands.builtin.restart import RestartArgs
from shared.inventory import Inventory
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue
from tests.unit.test_policy import POLICY_TOML

SECRET = "edges-secret"
JENKINS = """
[jenkins_jobs.deploy-web]
job = "web/deploy"
parameters = { ENV = { values = ["staging", "prod"] }, VERSION = { pattern = "[0-9][0-9.]*" }, NOTE = {} }

[jenkins_jobs.bare]
job = "bare"
"""


def inventory(extra: str = "") -> Inventory:
    return Inventory.from_toml(POLICY_TOML + JENKINS + extra)


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def handler_for(queue: RecordingQueue, inv: Inventory | None) -> SlackRequestHandler:
    return SlackRequestHandler(build_app(SECRET, queue, inv))


@pytest.fixture
def handler(queue):
    return handler_for(queue, inventory())


def command(handler, name: str, text: str = "", **fields: str) -> str:
    body = slash_body(name, text, channel_id="C0OPS", **fields)
    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200, response
    return str(json.loads(response["body"])["text"])


def mention(handler, text: str, **event_fields: object) -> int:
    event = {"type": "app_mention", "user": "U0ALICE", "text": text, "ts": "1.2", "channel": "C0OPS"}
    event.update(event_fields)
    body = json.dumps({"type": "event_callback", "team_id": "T0001", "event_id": "Ev77", "event": event}).encode()
    ev = load_event("http_api_v2", body, SECRET)
    ev["headers"]["content-type"] = "application/json"
    return int(handle(handler, ev, FakeLambdaContext())["statusCode"])


# -- who may trigger ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"bot_id": "B0RELAY"}, id="bot_id"),
        pytest.param({"subtype": "bot_message"}, id="bot-subtype"),
        pytest.param({"user": ""}, id="no-user"),
    ],
)
def test_a_bots_mention_queues_nothing(handler, queue, fields):
    assert mention(handler, "<@U0BOT> ops-restart checkout", **fields) == 200

    assert queue.jobs == []


def test_a_bot_the_inventory_names_may_mention(queue):
    handler = handler_for(queue, inventory('\n[intake]\nallowed_bots = ["B0RELAY"]\n'))

    mention(handler, "<@U0BOT> deploy-status checkout", bot_id="B0RELAY")

    assert [type(j.args) for j in queue.jobs] == [DeployStatusArgs]


@pytest.mark.parametrize("field", ["user_team", "source_team", "team"])
def test_a_person_of_another_workspace_is_told_and_nothing_runs(handler, queue, field):
    mention(handler, "<@U0BOT> ops-restart checkout", **{field: "T0PARTNER"})

    [job] = queue.jobs
    assert isinstance(job.args, NoticeArgs) and "accepts commands from members of this workspace" in job.args.text
    assert job.args.only_to_requester  # told to them alone (ephemeral), not posted in the channel's thread


def test_a_workspace_the_inventory_names_may_run_commands(queue):
    handler = handler_for(queue, inventory('\n[intake]\nallowed_teams = ["T0PARTNER"]\n'))

    mention(handler, "<@U0BOT> deploy-status checkout", user_team="T0PARTNER")

    assert [type(j.args) for j in queue.jobs] == [DeployStatusArgs]


def test_the_installations_own_people_still_run_commands(handler, queue):
    mention(handler, "<@U0BOT> deploy-status checkout", user_team="T0001")

    assert [type(j.args) for j in queue.jobs] == [DeployStatusArgs]


# -- unknown names -----------------------------------------------------------------------------------


def test_an_unknown_target_is_refused_at_the_ack_closest_first_and_nothing_is_queued(handler, queue):
    reply = command(handler, "/ops-restart", "paymnt")

    assert "I don't know target 'paymnt'. Known targets, closest first: payment, checkout" in reply
    assert "queued as job" not in reply and queue.jobs == []


def test_a_known_target_is_still_queued(handler, queue):
    assert "queued as job" in command(handler, "/deploy-status", "checkout")
    assert [type(j.args) for j in queue.jobs] == [DeployStatusArgs]


# -- Jenkins parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "deploy-web COLOR=red",
            "COLOR is not a parameter of this job; the parameters allowed are: ENV, NOTE, VERSION",
        ),
        ("deploy-web ENV=qa", "ENV must be one of staging, prod"),
        ("deploy-web VERSION=latest", "that value of VERSION is not one this job accepts"),
        ("deploy-web delay=0sec", "'delay' is a name Jenkins reserves"),
        ("deploy-web token=abc", "'token' is a name Jenkins reserves"),
        ("deploy-web cause=me", "'cause' is a name Jenkins reserves"),
        ("bare ENV=staging", "ENV is not a parameter of this job; the parameters allowed are: none"),
    ],
)
def test_build_parameters_outside_the_jobs_allow_list_are_refused_at_the_ack(handler, queue, text, problem):
    reply = command(handler, "/ops-build", text)

    assert problem in reply and queue.jobs == []


def test_allowed_build_parameters_are_queued(handler, queue):
    command(handler, "/ops-build", "deploy-web ENV=prod VERSION=1.2.3 NOTE=anything")

    [job] = [j for j in queue.jobs if isinstance(j.args, BuildArgs)]
    assert job.args.parameters == {"ENV": "prod", "VERSION": "1.2.3", "NOTE": "anything"}


def test_jenkins_reserved_names_are_refused_even_without_an_inventory(queue):
    reply = command(handler_for(queue, None), "/ops-build", "deploy-web Delay=0")

    assert "is a name Jenkins reserves" in reply and queue.jobs == []


def test_an_inventory_allowing_a_reserved_name_does_not_load():
    from shared.inventory import InventoryError

    with pytest.raises(InventoryError, match="a name Jenkins reserves"):
        Inventory.from_toml('[jenkins_jobs.x]\njob = "x"\nparameters = { token = {} }\n')


# -- bounded echo, plain words, escaping -------------------------------------------------------------


def test_a_fifty_thousand_character_target_gets_a_short_answer(handler, queue):
    reply = command(handler, "/ops-restart", "p" * 50_000)

    assert len(reply) < 600 and "…" in reply and queue.jobs == []


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("/ops-ping", "abc", "seconds must be a number, got 'abc'"),
        ("/ops-ping", "99", "seconds must be at most 60, got '99'"),
        ("/deploy-status", "pay$ment", "target names are letters, digits, - and _"),
        ("/ops-migrate", "payment v/1", "versions are letters, digits"),
        ("/ops-build", "deploy-web =x", "build parameters are key=value, got '=x'"),
    ],
)
def test_validation_errors_are_plain_words_without_field_names_types_or_regexes(handler, name, text, words):
    reply = command(handler, name, text)

    assert words in reply
    for internal in ("work_seconds", "Input should", "String should match", "pattern", "^[", "valid number"):
        assert internal not in reply


def test_mentions_and_links_in_command_text_come_back_inert(handler, queue):
    reply = command(handler, "/ops-logs", "checkout <!channel> <https://evil.example|:white_check_mark: approved>")

    assert "queued as job" in reply
    assert "<!channel>" not in reply and "<https://evil" not in reply and "&lt;!channel&gt;" in reply
    assert "<" not in reply


def test_usage_shows_its_placeholders_inert(handler):
    reply = command(handler, "/ops-restart", "a b")

    assert "`/ops-restart &lt;target&gt;`" in reply and "<target>" not in reply


def test_a_restart_of_a_known_target_is_queued_as_before(handler, queue):
    command(handler, "/ops-restart", "checkout")

    assert [type(j.args) for j in queue.jobs] == [RestartArgs]
