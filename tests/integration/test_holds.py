"""Locks and freezes end to end in-process: signed slash commands through the ack -> jobs -> the worker on moto
and the local Slack API, with the worker's clock moved by hand (a freeze's end is reached without sleeping)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest

from infra.devstack.demo import demo_inventory_toml
from shared.holds import hold_on, moment
from tests.events import slash_body
from tests.integration import ack_flow
from tests.integration.test_audit import rows
from worker_function import hold_messages

LOCK_RULE = """
[policy.lock]
user_groups = ["S0SRE"]
"""


class Flow(ack_flow.Flow):
    """Each command with its own trigger_id (its own job) and its own response_url (its own answers)."""

    def __init__(self, harness: Any, extra: str = "") -> None:
        harness.slack.set_usergroup("S0SRE", ["U0DANA"])  # the demo's override_freeze group
        super().__init__(harness, demo_inventory_toml(harness.cluster) + extra)

    def say(self, line: str, user: str = "U0ALICE") -> tuple[str, dict[str, Any]]:
        """Send the command signed as `user`; its response_url key and the ack's body."""
        command, _, text = line.partition(" ")
        key = secrets.token_hex(6)
        body = slash_body(
            command,
            text,
            user_id=user,
            channel_id="C0OPS",
            team_id="T0001",
            response_url=self.harness.slack.response_url(key),
            trigger_id=f"{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
        )
        return key, dict(json.loads(self.ack(body)["body"]))

    def run(self, line: str, user: str = "U0ALICE") -> str:
        """Send the command, run what it queued, and return the job's final answer."""
        key, _ = self.say(line, user)
        self.deliver()
        final = [m for m in self.harness.slack.messages(key=key) if m.final]
        assert final, f"no final answer to {line}"
        return str(final[-1].text)

    def jobs_of(self, command: str) -> list[str]:
        return sorted({r["job_id"] for r in self.audit_rows() if r["command"] == command})

    def audit_rows(self) -> list[dict[str, Any]]:
        from infra.devstack.aws import aws_client

        items = aws_client("dynamodb", self.harness.moto.endpoint_url).scan(TableName=self.harness.tables.audit)
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items["Items"]]


@pytest.fixture
def flow(harness) -> Flow:
    return Flow(harness)


def test_a_locked_target_refuses_a_restart_naming_the_locker_the_reason_and_since_when(flow, harness):
    locked = flow.run("/ops-lock payment incident 42 <!channel>")
    assert ":lock: `payment` is locked by <@U0ALICE>: incident 42 &lt;!channel&gt;" in locked
    before = harness.primary_deployment("payment")

    refused = flow.run("/ops-restart payment", user="U0BOB")

    since = moment(int(harness.clock.time()))[:10]
    assert "was refused: `payment` is locked by <@U0ALICE> since " + since in refused
    assert "incident 42 &lt;!channel&gt;" in refused and "<!channel>" not in refused
    assert harness.primary_deployment("payment") == before
    [restart] = flow.jobs_of("/ops-restart")
    events = [(r["event"], r.get("detail", "")) for r in sorted(rows(harness, restart), key=lambda r: r["sk"])]
    assert events[0][0] == "request" and events[1][0] == "denial" and "locked by U0ALICE" in events[1][1]
    assert "start" not in [e for e, _ in events]


def test_only_the_locker_unlocks_without_a_lock_rule_and_then_the_restart_runs(flow, harness):
    flow.run("/ops-lock payment deploy freeze for the db upgrade")

    refused = flow.run("/ops-unlock payment", user="U0BOB")
    assert "was refused: The lock on payment was made by <@U0ALICE>" in refused and "only they may" in refused
    assert hold_on("payment", "prod", flow.worker.ctx.holds.holds(harness.inventory)) is not None

    unlocked = flow.run("/ops-unlock payment")
    assert ":unlock: `payment` is unlocked by <@U0ALICE>" in unlocked
    before = harness.primary_deployment("payment")
    assert "completed" in flow.run("/ops-restart payment", user="U0BOB")
    assert harness.primary_deployment("payment") != before
    assert "is not locked" in flow.run("/ops-unlock payment")


def test_the_lock_rule_lets_its_people_lift_anyones_lock_and_only_they_may_lock(harness):
    flow = Flow(harness, LOCK_RULE)
    assert "was refused: locking payment is allowed to <!subteam^S0SRE>" in flow.run("/ops-lock payment mine")

    flow.run("/ops-lock payment incident 7", user="U0DANA")
    flow.run("/ops-lock checkout incident 8", user="U0BOB")  # refused: not in the rule
    assert "is locked by <@U0DANA>" in flow.run("/ops-restart payment", user="U0ALICE")
    assert "The lock on payment was made by <@U0DANA>" in flow.run("/ops-unlock payment", user="U0BOB")
    unlocked = flow.run("/ops-unlock payment", user="U0DANA")
    assert "is unlocked by <@U0DANA>" in unlocked
    assert "is not locked" in flow.run("/ops-unlock checkout", user="U0DANA")


def test_a_forgotten_lock_lapses_after_its_lifetime(harness):
    from infra.devstack.aws import aws_client
    from worker_function.errors import TargetBusyError
    from worker_function.store.holds import HoldStore
    from worker_function.store.leases import LeaseStore

    clock = [harness.clock.time()]
    client = aws_client("dynamodb", harness.moto.endpoint_url)
    holds = HoldStore(harness.tables.leases, client=client, lock_ttl_s=60, now=lambda: clock[0])
    leases = LeaseStore(harness.tables.leases, client=client, now=lambda: clock[0])
    holds.lock("payment", harness.job("/ops-lock payment gone home"), "gone home")
    restart = harness.job("/ops-restart payment")
    with pytest.raises(TargetBusyError) as busy:
        leases.acquire("payment", restart)
    assert "is locked by <@U0ALICE>" in busy.value.to_message(restart).text
    assert holds.hold_on("payment", "prod") is not None

    clock[0] += 61

    assert holds.hold_on("payment", "prod") is None and holds.holds(harness.inventory).locks == ()
    assert leases.acquire("payment", restart).owner_job == restart.job_id


def test_a_lock_is_refused_on_a_target_a_running_job_holds_and_unlock_says_it_is_a_job(flow, harness):
    running = harness.job("/ops-restart payment")
    flow.worker.leases.acquire("payment", running)

    assert "`payment` is busy: `/ops-restart payment`" in flow.run("/ops-lock payment incident 42")
    refused = flow.run("/ops-unlock payment")
    assert "`payment` is held by a running job, not a lock: `/ops-restart payment` by <@U0ALICE>" in refused
    assert "Unlocking does not stop it" in refused


def test_someone_elses_lock_is_not_taken_over_but_the_locker_renews_theirs(flow):
    flow.run("/ops-lock payment first reason")
    assert "is locked by <@U0ALICE>" in flow.run("/ops-lock payment mine now", user="U0BOB")
    assert "is locked by <@U0ALICE>: second reason" in flow.run("/ops-lock payment second reason")


def test_a_lock_on_an_unknown_target_and_one_without_a_reason_are_refused_at_the_ack(flow):
    _, unknown = flow.say("/ops-lock paymnt incident 42")
    _, no_reason = flow.say("/ops-lock payment")
    _, no_target = flow.say("/ops-lock")

    assert "I don't know target 'paymnt'. Known targets, closest first: payment" in unknown["text"]
    assert "/ops-lock needs a reason after the target" in no_reason["text"]
    assert "/ops-lock needs a target and a reason" in no_target["text"]
    assert flow.queue.jobs == []


def test_a_frozen_environment_refuses_a_migration_with_the_reason_who_and_until_when(flow, harness):
    frozen = flow.run("/ops-freeze prod incident 42 --for 2h")
    until = moment(int(harness.clock.time()) + 7200)
    assert f":snowflake: `prod` is frozen by <@U0ALICE> until {until}: incident 42" in frozen

    _, prompt = flow.say("/ops-migrate payment", user="U0BOB")
    confirm = ack_flow.button(prompt["blocks"], "opsbot_confirm")
    flow.click("opsbot_confirm", confirm, "U0BOB", channel="C0OPS", key="ok")
    flow.deliver()

    [answer] = [m.text for m in harness.slack.messages(key="ok")]
    assert f"`/ops-migrate payment` was refused: `prod` is frozen by <@U0ALICE> until {until}: incident 42" in answer
    [migrate] = flow.jobs_of("/ops-migrate")
    events = [r["event"] for r in rows(harness, migrate)]
    assert "denial" in events and "start" not in events
    assert "completed" in flow.run("/ops-restart checkout", user="U0BOB")  # staging is not frozen


def test_the_override_freeze_rule_lets_its_person_through_and_the_audit_shows_the_override(flow, harness):
    flow.run("/ops-freeze prod incident 42")
    before = harness.primary_deployment("payment")

    assert "frozen by <@U0ALICE>" in flow.run("/ops-restart payment", user="U0BOB")
    assert "completed" in flow.run("/ops-restart payment", user="U0DANA")

    assert harness.primary_deployment("payment") != before
    dana = [r for r in flow.audit_rows() if r["user_id"] == "U0DANA" and r["command"] == "/ops-restart"]
    [override] = [r for r in dana if r["event"] == "override"]
    assert "ran through the freeze" in override["detail"] and "incident 42" in override["detail"]
    audit = flow.run("/ops-audit payment")
    assert "*override* `/ops-restart payment` by <@U0DANA>" in audit


def test_a_freeze_ends_by_itself_when_its_time_is_up(flow, harness):
    flow.run("/ops-freeze prod change window --for 5m")
    assert "frozen by <@U0ALICE>" in flow.run("/ops-restart payment")
    harness.clock.advance(4 * 60)
    assert "frozen by <@U0ALICE>" in flow.run("/ops-restart payment")

    harness.clock.advance(61)  # the ack's requests keep their real time: their response_url stays fresh

    assert "completed" in flow.run("/ops-restart payment")
    assert "is not frozen" in flow.run("/ops-unfreeze prod")


def test_unfreeze_by_someone_else_is_refused_by_the_freezer_it_ends_the_freeze(flow, harness):
    flow.run("/ops-freeze prod incident 42 --for 1d")

    assert "was refused: The freeze of prod was made by <@U0ALICE>" in flow.run("/ops-unfreeze prod", user="U0BOB")
    assert ":sunny: `prod` is no longer frozen: ended by <@U0ALICE>" in flow.run("/ops-unfreeze prod")
    assert "completed" in flow.run("/ops-restart payment", user="U0BOB")
    events = sorted(r["event"] for r in flow.audit_rows() if r["target"] == "prod")
    assert "freeze" in events and "unfreeze" in events


def test_a_freeze_without_a_reason_an_unknown_environment_and_a_long_for_are_refused_at_the_ack(flow):
    _, no_reason = flow.say("/ops-freeze prod")
    _, only_for = flow.say("/ops-freeze prod --for 2h")
    _, unknown = flow.say("/ops-freeze production incident")
    _, too_long = flow.say("/ops-freeze prod incident --for 30d")

    assert "/ops-freeze needs a reason after the environment" in no_reason["text"]
    assert "/ops-freeze needs a reason after the environment" in only_for["text"]
    assert "I don't know environment 'production'. Known environments, closest first: prod, staging" in unknown["text"]
    assert "--for must be at most 7d (168h, 10080m), got '30d'" in too_long["text"]
    assert flow.queue.jobs == []


def test_the_read_api_lists_the_standing_locks_and_freezes_for_others_to_show(flow, harness):
    flow.run("/ops-lock checkout <b>bold</b> reason")
    flow.run("/ops-freeze prod incident 42 --for 2h")

    holds = flow.worker.ctx.holds.holds(harness.inventory)

    assert [lock.target for lock in holds.locks] == ["checkout"] and [f.environment for f in holds.freezes] == ["prod"]
    assert hold_on("payment", "prod", holds) == holds.freezes[0]
    assert holds.on("checkout") == holds.locks[0] and holds.on("bastion") == holds.freezes[0]
    store = flow.worker.ctx.holds
    assert store.hold_on("checkout", "staging") == holds.locks[0]
    assert store.hold_on("payment", "prod") == holds.freezes[0]
    assert store.current_locks(["checkout", "payment"]) == list(holds.locks)
    assert store.current_freezes(["prod", "staging"]) == list(holds.freezes)
    blocks = hold_messages.holds_blocks(holds, harness.clock.time())
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "`prod` frozen by <@U0ALICE>" in text and re.search(r"\((1h 59m|2h 0m) left\)", text)
    assert "`checkout` locked by <@U0ALICE>" in text and "&lt;b&gt;bold&lt;/b&gt;" in text


def test_a_redelivered_lock_unlock_freeze_and_unfreeze_find_their_own_work_done(harness):
    """Each operation run twice for the same job (a redelivery after a crash before its outcome was saved):
    the same answer, one lock and one freeze, nothing refused by its own earlier write."""
    from worker_function.operations.registry import operation_for

    ctx = harness.dispatcher().ctx
    for line, expected in [
        ("/ops-lock payment incident 42", "is locked by <@U0ALICE>: incident 42"),
        ("/ops-unlock payment", "is unlocked by <@U0ALICE>"),
        ("/ops-freeze prod incident 42", "is frozen by <@U0ALICE>"),
        ("/ops-unfreeze prod", "is no longer frozen: ended by <@U0ALICE>"),
    ]:
        job = harness.job(line)
        first = operation_for(job.kind).run(job.args, job, ctx)
        again = operation_for(job.kind).run(job.args, job, ctx)
        assert expected in first.text and expected in again.text, (line, first.text, again.text)
    after = ctx.holds.holds(harness.inventory)
    assert after.locks == () and after.freezes == ()


def test_two_people_locking_at_once_one_wins_and_the_other_is_told_who(harness):
    from concurrent.futures import ThreadPoolExecutor

    from shared.jobs import Requester
    from worker_function.errors import LockRefusedError

    holds = harness.dispatcher().ctx.holds
    jobs = [
        harness.job("/ops-lock payment mine").changed(
            requester=Requester(user_id=user, team_id="T0001", channel_id="C0OPS")
        )
        for user in ("U0ALICE", "U0BOB", "U0CAROL", "U0DANA")
    ]

    def take(job):
        try:
            return holds.lock("payment", job, "mine").requester
        except LockRefusedError as exc:
            return exc

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(take, jobs))

    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    refused = [r for r in results if isinstance(r, LockRefusedError)]
    assert all(r.holder.requester == winners[0] for r in refused) and len(refused) == 3


def test_ops_jobs_and_a_dry_run_show_the_lock_and_the_freeze_standing(flow, harness):
    flow.run("/ops-lock payment incident 42")
    flow.run("/ops-freeze prod change window <b>", user="U0DANA")

    def listed(line: str) -> str:
        key, _ = flow.say(line, user="U0BOB")
        flow.deliver()
        [blocks] = [json.dumps(m.payload.get("blocks")) for m in harness.slack.messages(key=key) if m.final]
        return blocks

    for shown in (listed("/ops-jobs"), listed("/ops-jobs payment")):
        assert "Freezes and locks" in shown and "`payment` locked by <@U0ALICE>" in shown and "incident 42" in shown
        assert "`prod` frozen by <@U0DANA>" in shown and "change window &lt;b&gt;" in shown
    assert "`prod` frozen" not in listed("/ops-jobs checkout")  # staging: neither holds it

    before = harness.primary_deployment("payment")
    dry = flow.run("/ops-restart payment --dry-run", user="U0BOB")
    assert ":lock: Locked by <@U0ALICE>" in dry and "it would be refused" in dry
    assert ":snowflake: `prod` is frozen by <@U0DANA>" in dry
    assert harness.primary_deployment("payment") == before
    [dry_run] = [r for r in flow.audit_rows() if r["event"] == "dry_run"]
    assert "; locked" in dry_run["detail"] and "; frozen" in dry_run["detail"]


@pytest.mark.parametrize(
    ("line", "lift", "event", "said"),
    [
        ("/ops-lock payment incident 42", "/ops-unlock payment", "lock", "was locked, and the lock was lifted since"),
        ("/ops-freeze prod incident 42", "/ops-unfreeze prod", "freeze", "was frozen, and the freeze was ended since"),
    ],
)
def test_a_hold_retried_after_someone_lifted_it_is_not_put_back(harness, line, lift, event, said):
    """The lock (or freeze) is written, then its audit write fails: SQS delivers the job again, but an
    /ops-unlock (/ops-unfreeze) ran in between. The retry sees its own hold lifted and leaves it so (no 24 h
    lock back), says so, and audits what happened; a restart on the target then runs."""
    worker = harness.dispatcher()
    audit_table = harness.tables.audit
    refused: list[str] = []

    def audit_write_fails_once(params: dict[str, Any], **_: Any) -> None:
        if not refused and params.get("TableName") == audit_table:
            refused.append("PutItem")
            raise ConnectionError("the audit table did not answer")

    worker.ctx.audit._client.meta.events.register("provide-client-params.dynamodb.PutItem", audit_write_fails_once)
    hold = harness.job(line)
    with pytest.raises(ConnectionError):
        worker.handle_record(hold.to_message(), 1)
    assert refused == ["PutItem"]
    lifted = harness.job(lift)
    worker.handle_record(lifted.to_message(), 1)

    worker.handle_record(hold.to_message(), 2)  # SQS delivers the hold's job again

    standing = worker.ctx.holds.holds(harness.inventory)
    assert standing.locks == () and standing.freezes == (), standing
    [answer] = [m.text for m in harness.slack.messages(key=hold.job_id) if m.final]
    assert said in answer and "stays un" in answer, answer
    restart = harness.job("/ops-restart payment")
    worker.handle_record(restart.to_message(), 1)
    assert not [m for m in harness.slack.messages(key=restart.job_id) if "was refused" in m.text]
    assert event in {r.event for r in worker.audit.history("payment" if event == "lock" else "prod", limit=50)}


@pytest.mark.parametrize("hold", ["/ops-freeze prod incident 42", "/ops-lock payment incident 42"])
def test_a_held_target_refuses_the_prompt_before_anyone_clicks_and_a_late_confirm_runs_nothing(flow, harness, hold):
    """The ack cannot read locks and freezes (no DynamoDB on its path), so it shows the Confirm prompt; the
    expiry it queues with the prompt reaches the worker at once, which sees the hold and replaces the prompt by
    the refusal before anyone clicks. A Confirm clicked on the stale prompt runs nothing."""
    flow.run(hold)
    key, prompt = flow.say("/ops-migrate payment", user="U0BOB")
    assert "opsbot_confirm" in json.dumps(prompt["blocks"])  # what the ack could show
    flow.deliver()
    [expiry] = flow.timers  # its first look, long before its time

    flow.worker.handle_record(expiry.to_message(), 1)

    [refusal] = harness.slack.messages(key=key)
    assert refusal.payload.get("replace_original") is True  # the prompt itself, its buttons gone
    assert "`/ops-migrate payment` was refused:" in refusal.text and "incident 42" in refusal.text, refusal.text
    assert "opsbot_confirm" not in json.dumps(refusal.payload.get("blocks"))
    confirm = ack_flow.button(prompt["blocks"], "opsbot_confirm")
    flow.click("opsbot_confirm", confirm, "U0BOB", channel="C0OPS", key="ok")
    flow.deliver()
    [late] = [m.text for m in harness.slack.messages(key="ok")]
    assert "was not run: it had been refused already" in late, late
    assert harness.codebuild.builds_of("payment-migrate") == []
    [migrate] = flow.jobs_of("/ops-migrate")
    events = [r["event"] for r in rows(harness, migrate)]
    assert "denial" in events and "start" not in events
