"""`--dry-run` without AWS or Slack: parsed anywhere in a mutating command's text, queued by the ack without a
prompt, an approval request or a denial; the worker's preview message bounded and escaped; a dry run the policy
would refuse reads nothing; a preview that fails says why."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ack_function.intake import accept_command, accept_mention
from ack_function.payloads import MentionEvent, SlashCommand
from ack_function.route import plan_job
from shared import blockkit
from shared.commands import DryRunArgs, find_command
from shared.commands.builtin.migrate import MigrateArgs
from shared.commands.builtin.restart import RestartArgs
from shared.errors import UsageError
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester
from tests.fakes import RecordingQueue
from tests.unit.test_operation_context import Recorder, context
from worker_function.errors import AssumeRoleError
from worker_function.operations import dry_run
from worker_function.operations import dry_run as dry_run_module
from worker_function.store.leases import Lease

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REQUESTER = Requester(user_id="U0ALICE", team_id="T1", channel_id="C0OPS")
INVENTORY = """
[targets.payment]
environment = "prod"
ecs = { cluster = "c", service = "payment" }
migration = { codebuild_project = "payment-migrate" }

[targets.checkout]
environment = "staging"
ecs = { cluster = "c", service = "checkout" }

[[policy.rules]]
name = "sre-only"
commands = ["/ops-restart"]
environments = ["prod"]
users = ["U0SRE"]
ask = "#sre"

[[policy.rules]]
name = "migrate-needs-two"
commands = ["/ops-migrate"]
environments = ["prod"]
approvers = ["U0DANA"]
approval_channel = "C0APPROVALS"
"""


@pytest.fixture
def inventory() -> Inventory:
    return Inventory.from_toml(INVENTORY)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["--dry-run payment", "payment --dry-run", "payment  --dry-run  "])
def test_dry_run_is_found_anywhere_in_a_mutating_commands_text(text):
    spec = find_command("/ops-restart")
    assert spec is not None

    words, dry = spec.split_dry_run(text)

    assert dry and spec.parse(words) == RestartArgs(target="payment")


def test_migrate_keeps_its_positional_words_in_order_around_the_flag():
    spec = find_command("/ops-migrate")
    assert spec is not None

    words, dry = spec.split_dry_run("payment --dry-run v42")

    assert dry and spec.parse(words) == MigrateArgs(target="payment", version="v42")


def test_a_command_that_changes_nothing_has_no_dry_run():
    spec = find_command("/ops-status")
    assert spec is not None

    with pytest.raises(UsageError, match=r"changes nothing, so it has no --dry-run.*/ops-restart"):
        spec.split_dry_run("payment --dry-run")


def test_the_ack_wraps_the_commands_args_and_keeps_the_text_as_typed(inventory):
    job = plan_job(
        "/ops-restart", "payment --dry-run", REQUESTER, job_id="j" * 32, response_url=None, now=NOW, inventory=inventory
    )

    assert isinstance(job, JobEnvelope) and job.kind == "dry_run"
    assert isinstance(job.args, DryRunArgs) and job.args.of == RestartArgs(target="payment")
    assert job.display == "/ops-restart payment --dry-run"
    assert JobEnvelope.from_message(job.to_message()) == job


def test_a_dry_run_of_an_unknown_target_is_refused_by_the_ack_like_the_command(inventory):
    said = plan_job(
        "/ops-restart", "nope --dry-run", REQUESTER, job_id="j" * 32, response_url=None, now=NOW, inventory=inventory
    )

    assert not isinstance(said, JobEnvelope) and "I don't know target 'nope'" in said.text


def slash(text: str, command: str = "/ops-restart") -> SlashCommand:
    return SlashCommand(
        command=command, text=text, team_id="T1", user_id="U0ALICE", channel_id="C0OPS", trigger_id=text
    )


def test_a_dry_run_the_policy_would_refuse_is_queued_for_the_worker_to_explain(inventory):
    queue = RecordingQueue()

    said = accept_command(slash("payment --dry-run"), queue, signing_secret="s", inventory=inventory)

    assert "is queued as job" in said.text
    assert [j.kind for j in queue.jobs] == ["dry_run"]  # no audit note of a denial: nothing was denied


def test_a_dry_run_of_a_command_to_confirm_or_approve_posts_no_prompt_and_no_approval_request(inventory):
    queue = RecordingQueue()

    said = accept_command(slash("payment 7 --dry-run", "/ops-migrate"), queue, signing_secret="s", inventory=inventory)

    assert "is queued as job" in said.text
    assert [j.kind for j in queue.jobs] == ["dry_run"]  # neither a prompt's expiry nor an approval_request


def test_a_dry_run_by_mention_is_queued_too(inventory):
    queue = RecordingQueue()
    event = MentionEvent(
        team_id="T1",
        event_id="Ev1",
        user="U0ALICE",
        channel="C0OPS",
        text="<@U0BOT> ops-migrate payment --dry-run",
        ts="1.2",
    )

    accept_mention(event, queue, inventory=inventory, now=lambda: NOW)

    assert [j.kind for j in queue.jobs] == ["dry_run"]


# -- the message --------------------------------------------------------------------------------


def test_the_dry_run_message_fits_slacks_limits_and_keeps_outside_text_inert():
    hostile = "<!channel> <@U123> <https://evil|click> & `tick`"
    message = dry_run_module.dry_run(
        f"/ops-restart {hostile} --dry-run",
        "abcd1234",
        "x" * 10_000,
        [f"line {i} " + "y" * 4000 for i in range(500)],
        ["z" * 5000] * 50,
    )

    assert len(message.blocks) <= blockkit.MAX_BLOCKS and len(message.text) <= blockkit.MAX_TEXT
    for block in message.blocks:
        for text in [block.get("text", {}).get("text", "")] + [e["text"] for e in block.get("elements", [])]:
            assert len(text) <= blockkit.MAX_SECTION_TEXT
    first = message.blocks[0]["text"]["text"]
    assert "<!channel>" not in first and "&lt;!channel&gt;" in first
    assert "480 more lines not shown" in json.dumps(message.blocks)


# -- the worker's dry run on fakes -------------------------------------------------------------------


@dataclasses.dataclass
class FakeLeases:
    held: Lease | None = None
    taken: list[str] = dataclasses.field(default_factory=list)

    def holder(self, target: str) -> Lease | None:
        return self.held

    def acquire(self, target: str, job: Any, *, since: int | None = None) -> Lease:
        self.taken.append(target)
        raise AssertionError("a dry run takes no lease")

    def step(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run takes no lease")

    def release(self, lease: Lease) -> None:
        raise AssertionError("a dry run takes no lease")


@dataclasses.dataclass
class FakeCodeBuild:
    log: Recorder

    def list_builds_for_project(self, **kwargs: Any) -> dict[str, Any]:
        self.log.calls.append(("codebuild.list_builds_for_project", kwargs))
        return {"ids": []}


@dataclasses.dataclass
class FakeClients:
    log: Recorder
    region: str = "eu-west-1"

    def client(self, service: str) -> Any:
        assert service == "codebuild", service
        return FakeCodeBuild(self.log)

    @property
    def ecs(self) -> Any:
        raise AssertionError("not asked of these fakes")


@dataclasses.dataclass
class FakeAccounts:
    """Each target's clients, recording who asked; `refuse` plays STS refusing the role."""

    log: Recorder
    refuse: bool = False

    def for_target(self, target: Any, job_id: str) -> FakeClients:
        self.log.calls.append(("accounts.for_target", {"job_id": job_id}))
        if self.refuse:
            raise AssumeRoleError("cannot assume <arn> (region eu-west-1): AccessDenied: no")
        return FakeClients(self.log)


class Groups:
    def members(self, group: str) -> frozenset[str]:
        return frozenset()


def dry_job(line: str, inventory: Inventory, user: str = "U0ALICE") -> JobEnvelope:
    name, _, text = line.partition(" ")
    requester = Requester(user_id=user, team_id="T1", channel_id="C0OPS")
    job = plan_job(name, text, requester, job_id="d" * 32, response_url=None, now=NOW, inventory=inventory)
    assert isinstance(job, JobEnvelope)
    return job


def test_a_dry_run_the_policy_refuses_says_whom_to_ask_reads_nothing_and_is_audited(inventory):
    log = Recorder()
    job = dry_job("/ops-restart payment --dry-run", inventory)
    ctx = context(log, inventory=inventory, accounts=FakeAccounts(log), leases=FakeLeases(), groups=Groups())

    said = dry_run.OPERATION.run(job.args, job, ctx)

    assert "Would be refused by rule `sre-only`" in said.text and "Ask #sre" in said.text
    assert "Not read" in said.text and "Not locked" in said.text
    assert log.calls == [
        ("audit.record", {"job_id": job.job_id, "event": "dry_run", "detail": "would be refused by rule sre-only"})
    ]


def test_a_dry_run_names_the_approval_it_would_need_and_the_lease_holder(inventory):
    log = Recorder()
    job = dry_job("/ops-migrate payment --dry-run", inventory)
    lease = Lease(
        target="payment",
        owner_job="f" * 32,
        requester="U0BOB",
        command="/ops-migrate payment",
        since=0,
        expires_at=int(NOW.timestamp()) + 60,
    )
    leases = FakeLeases(held=lease)
    ctx = context(log, inventory=inventory, accounts=FakeAccounts(log), leases=leases, groups=Groups())

    said = dry_run.OPERATION.run(job.args, job, ctx)

    assert "start CodeBuild project `payment-migrate` at the project's default version" in said.text
    assert "has no builds yet" in said.text
    assert "Would need the approval of a second person (<@U0DANA>) in <#C0APPROVALS>" in said.text
    assert ":lock: Locked: `/ops-migrate payment` by <@U0BOB>" in said.text and "(job `ffffffff`)" in said.text
    assert [name for name, _ in log.calls] == [
        "accounts.for_target",
        "codebuild.list_builds_for_project",
        "audit.record",
    ]
    assert log.calls[0][1] == {"job_id": job.job_id}  # the session name carries the dry run's own job id
    assert log.calls[-1][1]["detail"] == "allowed by rule migrate-needs-two; locked by another job"
    assert leases.taken == []


def test_an_expired_lease_is_not_a_lock(inventory):
    log = Recorder()
    job = dry_job("/ops-migrate payment --dry-run", inventory)
    stale = Lease(target="payment", owner_job="f" * 32, requester="U0BOB", command="/x", since=0, expires_at=10)
    ctx = context(log, inventory=inventory, accounts=FakeAccounts(log), leases=FakeLeases(held=stale), groups=Groups())

    assert "Not locked" in dry_run.OPERATION.run(job.args, job, ctx).text


def test_a_preview_that_cannot_be_made_says_why_and_changes_nothing(inventory):
    log = Recorder()
    job = dry_job("/ops-migrate payment --dry-run", inventory)
    ctx = context(
        log, inventory=inventory, accounts=FakeAccounts(log, refuse=True), leases=FakeLeases(), groups=Groups()
    )

    said = dry_run.OPERATION.run(job.args, job, ctx)

    assert "fail before changing anything" in said.text
    assert ":x: cannot assume &lt;arn&gt; (region eu-west-1): AccessDenied" in said.text


def test_the_readme_shows_what_a_dry_run_of_a_migration_prints():
    from shared.policy import Decision
    from tests.unit.test_readme import in_readme

    spec = find_command("/ops-migrate")
    assert spec is not None
    allowed = Decision(allowed=True, rule="demo-prod-operators")
    checks = [dry_run.policy_line(allowed, ""), *dry_run.prompt_lines(spec, allowed)]
    change = "start CodeBuild project `payment-migrate` with MIGRATION_VERSION=42, then follow the build to its end"
    message = dry_run_module.dry_run("/ops-migrate payment 42 --dry-run", "175b40ec", change, [], checks)

    for line in message.text.splitlines():
        if "_nothing read_" not in line:
            assert in_readme(line), line
