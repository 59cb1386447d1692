"""The ack's routing as one pure function: every outcome of `route`, for typed, picked, runbook and mentioned
requests alike (what each handler then does with it: test_confirmation, test_pickers, test_runbook_clicks,
test_ack_mentions, test_dry_run)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ack_function.pickers import picker_for
from ack_function.route import PROMPTS, Answer, AskApproval, Confirm, Deny, Queue, Request, Route, Via, route
from shared import messages
from shared.commands import DryRunArgs, find_command
from shared.commands.builtin.migrate import MigrateArgs
from shared.commands.builtin.restart import RestartArgs
from shared.inventory import Inventory
from shared.jobs import Requester

NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
JOB_ID = "f" * 32
URL = "https://hooks.slack.com/commands/T0001/1/abc"

INVENTORY = Inventory.from_toml(
    """
[targets.payment]
environment = "prod"
ecs = { cluster = "c", service = "payment", min = 2, max = 8 }
migration = { codebuild_project = "payment-migrate" }
log_groups = ["/c/payment"]

[targets.checkout]
environment = "staging"
ecs = { cluster = "c", service = "checkout" }

[jenkins_jobs.deploy-web]
job = "web/deploy"
environment = "staging"
parameters = { ENV = { values = ["staging"] } }

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
name = "sre-rollback-prod"
commands = ["/ops-rollback"]
environments = ["prod"]
users = ["U0ALICE"]

[[policy.rules]]
name = "dba-migrate-prod"
commands = ["/ops-migrate"]
environments = ["prod"]
users = ["U0ALICE"]
approvers = ["U0DAN"]
approval_channel = "C0APPROVALS"

[[policy.rules]]
name = "restart-staging-approved"
commands = ["/ops-restart"]
environments = ["staging"]
users = ["U0ALICE"]
approvers = ["U0DAN"]
approval_channel = "C0APPROVALS"
"""
)

ALL: tuple[Via, ...] = ("typed", "picked", "runbook", "mentioned")
CLICKS: tuple[Via, ...] = ("picked", "runbook", "mentioned")


def routed(
    via: Via, line: str, *, user: str = "U0ALICE", channel: str = "C0OPS", inventory: Inventory | None = INVENTORY
) -> Route:
    command, _, text = line.partition(" ")
    requester = Requester(user_id=user, team_id="T0001", channel_id=channel)
    return route(Request(via, command, text, requester, JOB_ID, URL), inventory, NOW)


@dataclass(frozen=True)
class Case:
    """`line` by `user` in `channel`, from each of `vias`: routed to `outcome`, its message holding `says`."""

    vias: tuple[Via, ...]
    line: str
    outcome: type
    says: str = ""
    user: str = "U0ALICE"
    channel: str = "C0OPS"
    inventory: Inventory | None = INVENTORY


CASES = {
    # Answered, nothing queued: the words, the names and the values the inventory admits.
    "unknown-command": Case(ALL, "/ops-nope payment", Answer, "Did you mean"),
    "bad-words": Case(ALL, "/ops-scale payment many", Answer, "Usage: `/ops-scale"),
    "no-target-without-picker": Case(CLICKS, "/ops-restart", Answer, "Usage: `/ops-restart"),
    "no-target-no-inventory": Case(("typed",), "/ops-restart", Answer, "Usage: `/ops-restart", inventory=None),
    "unknown-target": Case(ALL, "/ops-restart nowhere", Answer, "I don't know target 'nowhere'. Known targets"),
    "count-out-of-bounds": Case(ALL, "/ops-scale payment 20", Answer, "was not queued"),
    "reserved-build-parameter": Case(ALL, "/ops-build deploy-web token=x", Answer, "a name Jenkins reserves"),
    "build-parameter-not-allowed": Case(ALL, "/ops-build deploy-web OTHER=1", Answer, "was not queued"),
    "dry-run-of-a-read": Case(ALL, "/deploy-status payment --dry-run", Answer, "changes nothing"),
    # Denied from the policy's static lists: the same from everywhere.
    "denied-user": Case(ALL, "/ops-rollback payment", Deny, "denied by rule `sre-rollback-prod`", user="U0EVE"),
    "denied-channel": Case(ALL, "/ops-restart payment", Deny, "sre-restart-prod", channel="C0RANDOM"),
    "denied-by-default-on-prod": Case(ALL, "/ops-scale payment 3", Deny, "mutating commands on prod are denied"),
    # Queued: allowed, a read, a dry run (even of what would be denied, prompted or approved), undecided.
    "allowed": Case(ALL, "/ops-restart payment", Queue),
    "read-on-prod": Case(ALL, "/deploy-status payment", Queue, user="U0EVE"),
    "dry-run-of-a-denial": Case(ALL, "/ops-restart payment --dry-run", Queue, channel="C0RANDOM"),
    "dry-run-of-a-prompt": Case(ALL, "/ops-rollback payment --dry-run", Queue),
    "dry-run-of-an-approval": Case(ALL, "/ops-migrate payment 2024.06.1 --dry-run", Queue),
    "only-a-group-could-admit": Case(ALL, "/ops-restart payment", Queue, user="U0EVE"),
    "no-inventory-the-worker-decides": Case(ALL, "/ops-restart payment", Queue, user="U0EVE", inventory=None),
    "unguarded": Case(ALL, "/ops-cancel 1234abcd", Queue, user="U0EVE", channel="C0RANDOM"),
    # A prompt: only a slash command's answer can carry it; elsewhere, nothing is queued.
    "confirm-typed": Case(("typed",), "/ops-rollback payment", Confirm),
    "confirm-typed-no-inventory": Case(("typed",), "/ops-rollback payment", Confirm, inventory=None),
    "confirm-elsewhere": Case(CLICKS, "/ops-rollback payment", Answer, "type it as a slash command"),
    # A second person's approval: asked from a command or a click, never from a mention.
    "approval": Case(("typed", "picked", "runbook"), "/ops-restart checkout", AskApproval),
    "approval-from-a-mention": Case(("mentioned",), "/ops-restart checkout", Answer, "type it as a slash command"),
    # Both: a typed command asks the approval (which stands for the prompt); elsewhere the prompt comes first.
    "approval-and-confirm-typed": Case(("typed",), "/ops-migrate payment 2024.06.1", AskApproval),
    "approval-and-confirm-elsewhere": Case(CLICKS, "/ops-migrate payment 2024.06.1", Answer, "slash command"),
}


@pytest.mark.parametrize(
    ("via", "case"),
    [pytest.param(via, case, id=f"{name}-{via}") for name, case in CASES.items() for via in case.vias],
)
def test_route(via: Via, case: Case):
    decided = routed(via, case.line, user=case.user, channel=case.channel, inventory=case.inventory)

    assert type(decided) is case.outcome, decided
    if isinstance(decided, Answer | Deny):
        assert case.says in decided.message.text, decided.message.text
    if not isinstance(decided, Answer):  # a job, as the request asked it
        job = decided.job
        assert (job.job_id, job.correlation_id, job.issued_at) == (JOB_ID, JOB_ID, NOW)
        assert job.requester == Requester(user_id=case.user, team_id="T0001", channel_id=case.channel)
        assert (job.command, job.response_url) == (case.line.split()[0], URL)


def test_every_outcome_is_in_the_table():
    assert {case.outcome for case in CASES.values()} == {Answer, Deny, AskApproval, Confirm, Queue}
    assert {via for case in CASES.values() for via in case.vias} == set(ALL)


def test_a_slash_command_without_its_target_is_answered_with_the_picker_of_what_its_requester_may_use():
    decided = routed("typed", "/ops-restart", user="U0EVE")

    spec = find_command("/ops-restart")
    assert spec is not None
    assert isinstance(decided, Answer)
    assert decided.message == picker_for(spec, INVENTORY, "U0EVE", "C0OPS")


def test_a_dry_run_carries_the_command_it_previews():
    decided = routed("typed", "/ops-restart payment --dry-run", channel="C0RANDOM")

    assert isinstance(decided, Queue)
    assert decided.job.args == DryRunArgs(of=RestartArgs(target="payment"))
    assert decided.job.text == "payment --dry-run"


def test_a_denial_names_the_rule_and_whom_to_ask():
    decided = routed("typed", "/ops-restart payment", channel="C0RANDOM")

    assert isinstance(decided, Deny)
    assert decided.rule == "sre-restart-prod"
    assert decided.job.args == RestartArgs(target="payment")
    reason = "`/ops-restart` on prod is allowed to only <@U0ALICE>, <!subteam^S0SRE> in <#C0OPS>"
    assert decided.job.requester.channel_id == "C0RANDOM"
    assert decided.message == messages.denied("/ops-restart payment", "sre-restart-prod", reason, "<!subteam^S0SRE>")


def test_an_approval_names_its_rule_approvers_and_channel():
    decided = routed("typed", "/ops-migrate payment 2024.06.1")

    assert isinstance(decided, AskApproval)
    assert decided.rule == "dba-migrate-prod"
    assert (decided.approval.approvers, decided.approval.channel) == (["U0DAN"], "C0APPROVALS")
    assert decided.job.args == MigrateArgs(target="payment", version="2024.06.1")


@pytest.mark.parametrize(("inventory", "environment"), [(INVENTORY, "prod"), (None, None)])
def test_a_prompt_names_the_command_and_its_targets_environment(inventory, environment):
    decided = routed("typed", "/ops-rollback payment", inventory=inventory)

    spec = find_command("/ops-rollback")
    assert spec is not None and "typed" in PROMPTS
    assert isinstance(decided, Confirm)
    assert (decided.description, decided.environment) == (spec.description, environment)
