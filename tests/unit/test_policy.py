"""The policy matrix: allowed or denied by user, channel, user group and environment; who may approve or reject
an approval request; errors naming the bad key."""

from __future__ import annotations

import json

import pytest

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands import AuditNoteArgs
from shared.inventory import Inventory, InventoryError
from shared.policy import PROD_RULE, Approval, Policy, PolicyRequest, decide
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "test-signing-secret"

#: The README's example: only SREs may restart prod (a user group, plus one named user), only from #ops.
POLICY_TOML = """
[targets.payment]
environment = "prod"
ecs = { cluster = "c", service = "payment" }
migration = { codebuild_project = "payment-migrate" }
log_groups = ["/c/payment"]

[targets.checkout]
environment = "staging"
ecs = { cluster = "c", service = "checkout" }
log_groups = ["/c/checkout"]

[policy]
contact = "#platform"

[[policy.rules]]
name = "sre-restart-prod"
commands = ["/ops-restart"]
environments = ["prod"]
users = ["U0ALICE"]
user_groups = ["S0SRE"]
channels = ["C0OPS"]
ask = "<!subteam^S0SRE>"

[[policy.rules]]
name = "staging-logs-from-ops"
commands = ["/ops-logs"]
environments = ["staging"]
channels = ["C0OPS"]
"""

INVENTORY = Inventory.from_toml(POLICY_TOML)
SRE = frozenset({"U0BOB"})


def request(command: str, environment: str | None, user: str = "U0ALICE", channel: str = "C0OPS") -> PolicyRequest:
    mutating = command in {"/ops-restart", "/ops-migrate", "/ops-build", "/ops-regression"}
    return PolicyRequest(command=command, mutating=mutating, environment=environment, user=user, channel=channel)


def groups(group: str) -> frozenset[str] | None:
    return SRE if group == "S0SRE" else frozenset()


@pytest.mark.parametrize(
    ("req", "with_groups", "allowed", "rule"),
    [
        pytest.param(request("/ops-restart", "prod"), False, True, "sre-restart-prod", id="listed-user"),
        pytest.param(request("/ops-restart", "prod", "U0BOB"), True, True, "sre-restart-prod", id="group-member"),
        pytest.param(request("/ops-restart", "prod", "U0BOB"), False, None, "sre-restart-prod", id="group-unknown"),
        pytest.param(request("/ops-restart", "prod", "U0EVE"), True, False, "sre-restart-prod", id="not-a-member"),
        pytest.param(request("/ops-restart", "prod", channel="C0RANDOM"), False, False, "sre-restart-prod", id="chan"),
        pytest.param(request("/ops-restart", "staging", "U0EVE"), False, True, None, id="staging-no-rule"),
        pytest.param(request("/ops-migrate", "prod"), False, False, PROD_RULE, id="prod-default-deny"),
        pytest.param(request("/deploy-status", "prod", "U0EVE"), False, True, None, id="read-only-on-prod"),
        pytest.param(request("/ops-logs", "staging", "U0EVE", "C0OPS"), False, True, "staging-logs-from-ops", id="ch"),
        pytest.param(request("/ops-logs", "staging", "U0EVE", "C0X"), False, False, "staging-logs-from-ops", id="c2"),
        pytest.param(request("/ops-ping", None, "U0EVE", "C0X"), False, True, None, id="no-target"),
    ],
)
def test_the_policy_matrix(req, with_groups, allowed, rule):
    decision = decide(INVENTORY.policy, req, groups) if with_groups else decide(INVENTORY.policy, req)

    assert decision.allowed is allowed
    assert decision.rule == rule


def test_a_denial_names_the_rule_what_it_allows_and_who_to_ask():
    decision = decide(INVENTORY.policy, request("/ops-restart", "prod", "U0EVE"), groups)

    assert decision.reason == "`/ops-restart` on prod is allowed to only <@U0ALICE>, <!subteam^S0SRE> in <#C0OPS>"
    assert decision.ask == "<!subteam^S0SRE>"
    default = decide(Policy(contact="#platform"), request("/ops-restart", "prod"))
    assert default.rule == PROD_RULE and default.ask == "#platform"


def unknown(group: str) -> frozenset[str] | None:
    return None


@pytest.mark.parametrize(
    ("user", "members", "approve", "reject"),
    [
        pytest.param("U0DAN", unknown, True, True, id="listed-approver"),
        pytest.param("U0BOB", groups, True, True, id="group-member"),
        pytest.param("U0BOB", unknown, None, None, id="group-unknown-the-ack"),
        pytest.param("U0EVE", groups, False, False, id="outsider"),
        pytest.param("U0ALICE", groups, False, True, id="the-requester-withdraws"),
        pytest.param("U0ALICE", unknown, None, True, id="the-requester-groups-unknown"),
    ],
)
def test_who_may_approve_and_who_may_reject(user, members, approve, reject):
    """An approver may approve or reject; the requester may only reject (withdraw their own request); anyone
    else neither. None: only a user group could say, and its members are unknown (the ack)."""
    approval = Approval(approvers=["U0DAN", "S0SRE"], channel="C0APPROVALS")

    assert approval.could_approve(user, members) is approve
    assert approval.could_reject(user, "U0ALICE", members) is reject


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ('[[policy.rules]]\nname = "x"\ncommands = ["/ops-restrat"]\n', "policy.rules.0.commands"),
        ('[[policy.rules]]\nname = "x"\nenvironments = ["production"]\n', "policy.rules.0.environments.0"),
        ('[[policy.rules]]\nname = "x"\nuserz = ["U1"]\n', "policy.rules.0.userz"),
        ('[[policy.rules]]\nname = "x"\nusers = ["alice"]\n', "policy.rules.0.users.0"),
        ('[[policy.rules]]\nname = "x"\n[[policy.rules]]\nname = "x"\n', "policy.rules"),
        ('[[policy.rules]]\nname = "x"\napprovers = ["S0DBA"]\n', "policy.rules.0: Value error, approvers and"),
    ],
)
def test_an_invalid_policy_is_refused_with_the_bad_key_named(toml, names):
    with pytest.raises(InventoryError) as raised:
        Inventory.from_toml(toml, source="inventory.toml")

    assert names in str(raised.value)


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def send(queue: RecordingQueue, text: str, **fields: str) -> str:
    handler = SlackRequestHandler(build_app(SECRET, queue, INVENTORY))
    command, _, args = text.partition(" ")
    event = load_event("http_api_v2", slash_body(command, args, **fields), SECRET)
    response = handle(handler, event, FakeLambdaContext())
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


def test_the_ack_denies_from_its_static_lists_and_queues_nothing(queue):
    text = send(queue, "/ops-migrate payment", user_id="U0ALICE", channel_id="C0OPS")

    assert f"denied by rule `{PROD_RULE}`" in text and "Ask #platform" in text
    [note] = queue.jobs  # nothing to run: only the denial, for the worker to record in the audit trail
    assert note.args == AuditNoteArgs(target="payment", detail=note.args.detail) and PROD_RULE in note.args.detail


def test_the_ack_queues_what_a_listed_user_may_run(queue):
    text = send(queue, "/ops-restart payment", user_id="U0ALICE", channel_id="C0OPS")

    assert "queued as job" in text
    assert [job.requester.user_id for job in queue.jobs] == ["U0ALICE"]


def test_the_ack_passes_to_the_worker_what_only_a_user_group_could_allow(queue):
    """The ack cannot see group members (no Web API): the request goes on, and the worker decides."""
    text = send(queue, "/ops-restart payment", user_id="U0BOB", channel_id="C0OPS")

    assert "queued as job" in text and len(queue.jobs) == 1


def test_the_ack_denies_from_the_wrong_channel_even_a_listed_user(queue):
    text = send(queue, "/ops-restart payment", user_id="U0ALICE", channel_id="C0RANDOM")

    assert "denied by rule `sre-restart-prod`" in text
    assert [type(job.args) for job in queue.jobs] == [AuditNoteArgs]
