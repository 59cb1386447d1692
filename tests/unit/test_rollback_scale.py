"""/ops-rollback and /ops-scale: their words refused at the ack (signed requests, nothing queued), the inventory's
bounds, the revision chosen (on a recording fake of ECS), and from -> to lines within Slack's limits, escaped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from ack_function.pickers import offers_picker
from infra.devstack.demo import demo_inventory_toml
from shared import blockkit
from shared.commands import SettleArgs, find_command
from shared.commands.builtin.rollback import RollbackArgs
from shared.inventory import Inventory, InventoryError
from shared.inventory_entries import DEFAULT_MAX_TASKS, DEFAULT_MIN_TASKS
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue
from worker_function import job_messages
from worker_function.operations._ecs import images
from worker_function.operations.rollback import choose, from_to

SECRET = "test-signing-secret"
INVENTORY = Inventory.from_toml(demo_inventory_toml("c"))


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def send(queue: RecordingQueue, command: str, text: str) -> dict[str, Any]:
    """A signed slash command through the ack (its Lambda handler), as U0ALICE in C0OPS: the ack body."""
    handler = SlackRequestHandler(build_app(SECRET, queue, INVENTORY))
    body = slash_body(command, text, user_id="U0ALICE", channel_id="C0OPS")
    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
    assert response["statusCode"] == 200
    return dict(json.loads(response["body"]))


# -- at the ack ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text", "told"),
    [
        ("/ops-scale", "payment 7", "`payment` scales between 1 and 6 tasks (the inventory's bounds): 7 is outside"),
        ("/ops-scale", "payment 0", "`payment` scales between 1 and 6 tasks (the inventory's bounds): 0 is outside"),
        ("/ops-scale", "checkout 11", "`checkout` scales between 1 and 10 tasks (opsbot's default bounds"),
        ("/ops-scale", "checkout 0", "`checkout` scales between 1 and 10 tasks (opsbot's default bounds"),
        ("/ops-scale", "payment -1", "the count must be at least 0, got '-1'."),
        ("/ops-scale", "payment three", "the count must be a whole number of tasks, got 'three'."),
        ("/ops-scale", "payment 3.0", "the count must be a whole number of tasks, got '3.0'."),
        ("/ops-scale", "payment 1e3", "the count must be a whole number of tasks, got '1e3'."),
        ("/ops-scale", "payment 99999", "the count must be at most 5000, got '99999'."),
        ("/ops-scale", "payment", "/ops-scale takes 2 arguments, got 1."),
        (
            "/ops-scale",
            "paymnt 3",
            "I don't know target 'paymnt'. Known targets, closest first: payment, payment-eu, checkout.",
        ),
        ("/ops-scale", "bastion 3", "I don't know target 'bastion'"),
        ("/ops-rollback", "payment 0", "the revision is a revision number such as 3 or a task definition ARN"),
        ("/ops-rollback", "payment latest", "the revision is a revision number such as 3 or a task definition ARN"),
        ("/ops-rollback", "payment arn:aws:ecs:us-east-1:123456789012:service/c/payment", "the revision is a revision"),
        ("/ops-rollback", "payment 1 2", "/ops-rollback takes 1 to 2 arguments, got 3."),
        ("/ops-rollback", "bastion", "I don't know target 'bastion'"),
    ],
)
def test_bad_words_are_refused_at_the_ack_ephemerally_and_nothing_is_queued(queue, command, text, told):
    body = send(queue, command, text)

    assert queue.jobs == []
    assert body["response_type"] == "ephemeral"
    assert told in body["text"], body["text"]
    assert "Nothing was queued." in json.dumps(body)


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/ops-scale", "payment 3"),
        ("/ops-scale", "payment 6"),
        ("/ops-scale", "checkout 10"),
        ("/ops-rollback", "payment"),
        ("/ops-rollback", "payment 1"),
        ("/ops-rollback", "payment arn:aws:ecs:us-east-1:123456789012:task-definition/payment:1"),
    ],
)
def test_words_in_bounds_get_the_confirm_prompt_and_only_its_expiry_is_queued(queue, command, text):
    body = send(queue, command, text)

    environment = "prod" if text.startswith("payment") else "staging"
    assert f"Run `{command} {text}` on *{environment}*?" in body["text"]  # whole: what is confirmed is what runs
    [expiry] = queue.jobs  # the job itself rides in the Confirm button until it is pressed
    assert isinstance(expiry.args, SettleArgs) and expiry.args.outcome == "expired"


def test_the_new_commands_are_mutating_confirmed_leased_and_offer_no_picker():
    for name in ("/ops-rollback", "/ops-scale"):
        spec = find_command(name)
        assert spec is not None
        assert spec.mutating and spec.confirm and spec.accepts == "ecs"
        assert spec.pipeline.lease and spec.pipeline.confirmed and spec.pipeline.audited
        assert not offers_picker(spec)  # a click cannot show the Confirm prompt: typed, as /ops-migrate


def test_on_prod_without_a_rule_the_new_commands_are_denied_like_restart(queue):
    toml = demo_inventory_toml("c").replace('commands = ["/ops-rollback", "/ops-scale"]', 'commands = ["/ops-ping"]')
    handler = SlackRequestHandler(build_app(SECRET, queue, Inventory.from_toml(toml)))
    body = slash_body("/ops-scale", "payment 3", user_id="U0ALICE", channel_id="C0OPS")

    response = handle(handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())

    text = json.loads(response["body"])["text"]
    assert "denied by rule `prod-needs-a-policy`" in text
    assert [job.kind for job in queue.jobs] == ["audit_note"]  # the denial, for the audit trail


# -- the inventory's bounds ----------------------------------------------------------------------


def _target(ecs: str) -> Inventory:
    return Inventory.from_toml(f"[targets.api]\necs = {{ cluster = 'c', service = 'api'{ecs} }}\n")


def test_bounds_default_to_one_and_ten_and_the_inventory_sets_others():
    assert _target("").targets["api"].ecs.bounds == (DEFAULT_MIN_TASKS, DEFAULT_MAX_TASKS) == (1, 10)
    assert _target(", min = 0, max = 40").targets["api"].ecs.bounds == (0, 40)
    assert _target(", max = 3").targets["api"].ecs.bounds == (1, 3)


@pytest.mark.parametrize(
    ("ecs", "error"),
    [
        (", min = 5, max = 2", "targets.api.ecs: Value error, min 5 is above max 2"),
        (", min = 12", "targets.api.ecs: Value error, min 12 is above max 10 (the default max: set max too)"),
        (", min = -1", "targets.api.ecs.min: Input should be greater than or equal to 0"),
        (", max = -3", "targets.api.ecs.max: Input should be greater than or equal to 0"),
        (", max = 'ten'", "targets.api.ecs.max: Input should be a valid integer"),
        (", max = 9000", "targets.api.ecs.max: Input should be less than or equal to 5000"),
    ],
)
def test_bad_bounds_fail_at_load_naming_the_key(ecs, error):
    with pytest.raises(InventoryError, match="inventory is invalid") as caught:
        _target(ecs)
    assert error in str(caught.value)


# -- the revision chosen, on a recording fake of ECS ----------------------------------------------


def _revision(family: str, number: int, status: str = "ACTIVE", image: str = "img") -> dict[str, Any]:
    return {
        "taskDefinitionArn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{number}",
        "family": family,
        "revision": number,
        "status": status,
        "containerDefinitions": [{"name": "app", "image": f"{image}:{number}"}],
    }


@dataclass
class FakeEcs:
    """Revisions ECS describes, revisions it lists as INACTIVE, and every call made."""

    described: dict[str, dict[str, Any]] = field(default_factory=dict)
    inactive: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def describe_task_definition(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_task_definition", kwargs))
        found = self.described.get(kwargs["taskDefinition"])
        if found is None:
            error = {"Error": {"Code": "ClientException", "Message": "Unable to describe task definition."}}
            raise ClientError(error, "DescribeTaskDefinition")  # type: ignore[arg-type]
        return {"taskDefinition": found}

    def get_paginator(self, name: str) -> Any:
        def paginate(**kwargs: Any) -> list[dict[str, Any]]:
            self.calls.append((name, kwargs))
            return [{"taskDefinitionArns": self.inactive}]

        return SimpleNamespace(paginate=paginate)


def _choose(revision: str | None, running: dict[str, Any], ecs: FakeEcs) -> Any:
    aws = SimpleNamespace(ecs=ecs)  # the target's clients
    return choose(RollbackArgs(target="payment", revision=revision), running, aws)  # type: ignore[arg-type]


def test_the_previous_revision_is_the_one_before_the_running_one():
    ecs = FakeEcs(described={"payment:4": _revision("payment", 4)})

    assert _choose(None, _revision("payment", 5), ecs) == _revision("payment", 4)


def test_a_previous_revision_ecs_will_not_describe_is_named_deregistered_when_it_is_listed_inactive():
    """ECS describes an INACTIVE revision only while something uses it: one no service uses is in the list."""
    ecs = FakeEcs(inactive=["arn:aws:ecs:us-east-1:123456789012:task-definition/payment:4"])

    said = _choose(None, _revision("payment", 5), ecs)

    assert said.startswith("the previous revision `payment:4` is deregistered (INACTIVE)")
    assert ("list_task_definitions", {"familyPrefix": "payment", "status": "INACTIVE", "sort": "DESC",
            "PaginationConfig": {"MaxItems": 500}}) in ecs.calls  # fmt: skip


def test_a_revision_neither_described_nor_listed_does_not_exist():
    ecs = FakeEcs(inactive=["arn:aws:ecs:us-east-1:123456789012:task-definition/payment-eu:4"])  # another family

    assert (
        _choose("4", _revision("payment", 5), ecs)
        == "revision `payment:4` does not exist in ECS (it runs `payment:5`)."
    )


def test_the_first_revision_and_the_running_one_are_not_rolled_back_to_and_ecs_is_not_asked():
    ecs = FakeEcs()

    assert "the first revision of its family" in _choose(None, _revision("payment", 1), ecs)
    assert _choose("3", _revision("payment", 3), ecs) == "it already runs `payment:3`."
    assert ecs.calls == []


def test_an_arn_of_another_family_is_refused_before_ecs_is_asked():
    ecs = FakeEcs()
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:1"

    said = _choose(arn, _revision("payment", 3), ecs)

    assert "is a revision of family `checkout`" in said and "a rollback stays within its family" in said
    assert ecs.calls == []


# -- messages: from -> to within Slack's limits, escaped -------------------------------------------

HOSTILE = "<!channel> `x` <https://evil.example|click> &amp;"


def _blocks_fit(message: blockkit.SlackMessage) -> None:
    assert len(message.blocks) <= blockkit.MAX_BLOCKS and len(message.text) <= blockkit.MAX_TEXT
    for block in message.blocks:
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block.get("elements", [])]
        assert all(len(t) <= blockkit.MAX_SECTION_TEXT for t in texts)


def test_a_from_to_line_of_hostile_and_huge_images_fits_and_is_inert():
    many = [{"name": f"c{i}", "image": HOSTILE + "x" * 5000} for i in range(200)]
    running = {**_revision("payment", 2), "containerDefinitions": many}
    chosen = {**_revision("payment", 1), "containerDefinitions": many}

    line = from_to(running, chosen)
    message = job_messages.progress("Rollback of `payment` (cluster `c`): starting the deployment.", [line])

    _blocks_fit(message)
    shown = json.dumps(message.model_dump())
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt;" in shown and "and 195 more" in line
    assert line.startswith("`payment:2` → `payment:1`; image ")


def test_images_are_escaped_cut_and_counted():
    listed = images({"containerDefinitions": [{"image": "a`b<c>"}, {"image": "y" * 500}]})

    assert listed.startswith("`a\u02cbb&lt;c&gt;`, `") and "…" in listed and len(listed) < 200
    assert images({"containerDefinitions": []}) == "no containers"
