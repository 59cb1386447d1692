"""Locks and freezes without I/O: the plan's refusals and overrides, the policy's lock/freeze/override_freeze
rules, parsing at the ack, `hold_on`, and the messages (bounded and escaped for any reason)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared import blockkit
from shared.commands import find_command, spec_for_kind
from shared.commands.builtin.freeze import FreezeArgs
from shared.commands.builtin.lock import LockArgs
from shared.commands.builtin.restart import RestartArgs
from shared.errors import UsageError
from shared.holds import Freeze, Holds, Lock, hold_on
from shared.inventory import Inventory, InventoryError
from shared.jobs import Continuation, JobEnvelope, Requester
from shared.policy import Decision as PolicyDecision
from shared.policy import HoldRule
from worker_function import errors as errors_module
from worker_function import hold_messages
from worker_function.errors import PolicyDeniedError, TargetBusyError, TargetFrozenError, TargetLockedError
from worker_function.operations import lock as lock_module
from worker_function.operations.restart import ServiceState
from worker_function.plan import HoldFacts, Refuse, Run, Verdict, plan_step
from worker_function.store.leases import Lease

NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
T = int(NOW.timestamp())
ALLOWED = Verdict(PolicyDecision(allowed=True, rule="ops"))
LOCK = Lock("payment", "U0ALICE", "incident 42", since=T - 600, until=T + 3600, job_id="a" * 32)
FREEZE = Freeze("prod", "U0ALICE", "incident 42", since=T - 60, until=T + 7200, job_id="b" * 32)


def job(args=None, *, continuation=None) -> JobEnvelope:
    args = args or RestartArgs(target="payment")
    return JobEnvelope(
        job_id="0123456789abcdef0123456789abcdef",
        command="/ops-restart",
        text="payment",
        args=args,
        requester=Requester(user_id="U0BOB", team_id="T1", channel_id="C1"),
        issued_at=NOW - timedelta(seconds=5),
        correlation_id="c",
        continuation=continuation,
        schema_version=2 if continuation else 1,
    )


def plan(holds, verdict=ALLOWED, j=None):
    j = j or job()
    return plan_step(j, spec_for_kind(j.kind), verdict, None, NOW, holds)


# -- the plan ----------------------------------------------------------------------------------------------


def test_a_locked_target_refuses_the_first_step_naming_the_locker_and_audits_a_denial():
    p = plan(HoldFacts(lock=LOCK))

    assert isinstance(p, Refuse) and isinstance(p.error, TargetLockedError) and p.error.lock == LOCK
    assert p.audit is not None and p.audit[0] == "denial" and "locked by U0ALICE" in p.audit[1]
    text = p.error.to_message(job()).text
    assert "`payment` is locked by <@U0ALICE> since 2026-12-01 10:50 UTC: incident 42" in text


def test_a_frozen_environment_refuses_the_first_step_with_the_reason_who_and_until_when():
    p = plan(HoldFacts(freeze=FREEZE, override=False))

    assert isinstance(p, Refuse) and isinstance(p.error, TargetFrozenError)
    assert "`prod` is frozen by <@U0ALICE> until 2026-12-01 13:00 UTC: incident 42" in p.error.to_message(job()).text
    assert p.audit is not None and p.audit[0] == "denial"
    assert isinstance(plan(HoldFacts(freeze=FREEZE)), Refuse)  # no override rule: refused too


def test_whom_override_freeze_admits_runs_through_the_freeze_audited_as_an_override():
    p = plan(HoldFacts(freeze=FREEZE, override=True))

    assert isinstance(p, Run)
    events = [event for event, _ in p.audits]
    assert events == ["start", "override"] and "incident 42" in p.audits[1][1]


def test_a_lock_wins_over_an_override_of_the_freeze():
    assert isinstance(plan(HoldFacts(lock=LOCK, freeze=FREEZE, override=True)).error, TargetLockedError)  # type: ignore[union-attr]


def test_a_lapsed_lock_and_an_ended_freeze_hold_nothing():
    lapsed = Lock("payment", "U0ALICE", "r", since=T - 90000, until=T - 1)
    ended = Freeze("prod", "U0ALICE", "r", since=T - 7200, until=T)

    assert plan(HoldFacts(lock=lapsed, freeze=ended)) == Run(audits=(("start", "allowed by rule ops"),))


def test_a_policy_denial_comes_before_a_lock_and_a_later_step_is_not_held():
    denied = Verdict(PolicyDecision(allowed=False, rule="prod", reason="not on call"))
    assert isinstance(plan(HoldFacts(lock=LOCK), denied).error, PolicyDeniedError)  # type: ignore[union-attr]

    state = ServiceState(cluster="c", service="payment", deployment="ecs-svc/1").model_dump()
    later = job(continuation=Continuation(step=2, state=state, started_at=NOW - timedelta(seconds=60)))
    assert isinstance(plan(HoldFacts(lock=LOCK, freeze=FREEZE), j=later), Run)


def test_a_lease_taken_by_a_lock_between_the_plan_and_the_step_answers_as_a_lock():
    lease = Lease("payment", "lock:" + "a" * 32, "U0ALICE", "/ops-lock payment x", T, T + 60, reason="x <b>")

    text = TargetBusyError(lease).to_message(job()).text

    assert "is locked by <@U0ALICE>" in text and "x &lt;b&gt;" in text and "busy" not in text


# -- the policy's rules ------------------------------------------------------------------------------------


def members(group):
    return {"S0SRE": frozenset({"U0BOB"})}.get(group)


def test_a_hold_rule_admits_its_users_and_group_members_in_its_environments_only():
    rule = HoldRule(users=["U0DANA"], user_groups=["S0SRE"], environments=["prod"])

    assert rule.admits("U0DANA", "prod", members) is True and rule.admits("U0BOB", "prod", members) is True
    assert rule.admits("U0EVE", "prod", members) is False
    assert rule.admits("U0DANA", "staging", members) is False
    assert rule.admits("U0EVE", "prod", lambda g: None) is None  # the group could not be listed
    assert HoldRule().admits("U0DANA", "prod", members) is False  # names nobody: admits nobody


def test_the_inventory_reads_the_three_rules_and_names_a_bad_key():
    base = '[targets.payment]\nenvironment = "prod"\necs = { cluster = "c", service = "p" }\n'
    rules = '[policy.lock]\nusers = ["U0A"]\n[policy.freeze]\nuser_groups = ["S0SRE"]\n'
    rules += '[policy.override_freeze]\nusers = ["U0DANA"]\nenvironments = ["prod"]\n'

    policy = Inventory.from_toml(base + rules).policy

    assert policy.lock is not None and policy.lock.users == ["U0A"]
    assert policy.freeze is not None and policy.override_freeze is not None
    assert Inventory.from_toml(base).policy.override_freeze is None
    with pytest.raises(InventoryError, match=r"policy\.override_freeze\.environments\.0"):
        Inventory.from_toml(base + '[policy.override_freeze]\nenvironments = ["prd"]\n')


def test_a_lock_or_freeze_rule_decides_only_in_the_environments_it_covers():
    base = '[targets.payment]\nenvironment = "prod"\necs = { cluster = "c", service = "p" }\n'
    policy = Inventory.from_toml(base + '[policy.freeze]\nusers = ["U0A"]\nenvironments = ["prod"]\n').policy

    assert policy.hold_rule("freeze", "prod") is policy.freeze
    assert policy.hold_rule("freeze", "staging") is None  # the default: anyone freezes staging
    assert policy.hold_rule("lock", "prod") is None


def test_environments_are_what_the_inventory_places_things_in():
    toml = '[targets.p]\nenvironment = "prod"\n[suites.s]\ncodebuild_project = "xx"\nenvironment = "test"\n'
    inventory = Inventory.from_toml(toml)

    assert inventory.names_for("environment") == ["prod", "test"]
    assert inventory.environment_of("environment", "prod") == "prod"
    assert inventory.environment_of("environment", "dev") is None
    with pytest.raises(Exception, match="I don't know environment `prd`"):
        inventory.require("environment", "prd")


# -- parsing -----------------------------------------------------------------------------------------------


def test_lock_and_freeze_parse_their_reason_and_duration():
    lock = find_command("/ops-lock").parse("payment incident 42")  # type: ignore[union-attr]
    assert lock == LockArgs(target="payment", reason="incident 42")
    freeze = find_command("/ops-freeze")
    assert freeze is not None
    assert freeze.parse("prod incident 42 --for 2h") == FreezeArgs(
        environment="prod", reason="incident 42", for_minutes=120
    )
    assert freeze.parse("prod --for 1d db upgrade").for_minutes == 1440  # type: ignore[attr-defined]
    assert freeze.parse("prod db upgrade").for_minutes == 240  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("/ops-lock payment", "needs a reason"),
        ("/ops-lock", "needs a target and a reason"),
        ("/ops-freeze prod", "needs a reason"),
        ("/ops-freeze prod --for", "--for needs a duration"),
        ("/ops-freeze prod x --for soon", "--for must be a duration"),
        ("/ops-freeze prod x --for 8d", r"--for must be at most 7d \(168h, 10080m\), got .8d."),
        ("/ops-lock payment " + "x" * 301, "the reason is too long"),
        ("/ops-unlock", "takes 1 argument"),
    ],
)
def test_bad_lock_and_freeze_lines_are_usage_errors(line, problem):
    name, _, text = line.partition(" ")
    spec = find_command(name)
    assert spec is not None
    with pytest.raises(UsageError, match=problem):
        spec.parse(text)


# -- hold_on and the messages ------------------------------------------------------------------------------


def test_hold_on_names_the_lock_first_then_the_environments_freeze():
    holds = Holds.standing_at(T, [LOCK], [FREEZE], {"payment": "prod", "checkout": "staging"})

    assert hold_on("payment", "prod", holds) == LOCK
    assert hold_on("bastion", "prod", holds) == FREEZE
    assert hold_on("checkout", "staging", holds) is None and holds.on("checkout") is None
    assert Holds.standing_at(T + 7200, [LOCK], [FREEZE]).freezes == ()


HOSTILE = "<!channel> `x` <https://evil|click> " + "&" * 500


def test_the_holds_section_is_bounded_and_escaped_for_any_number_and_any_reason():
    locks = [Lock(f"t{i}", "U0ALICE", HOSTILE, T, T + 60) for i in range(300)]
    freezes = [Freeze(f"e{i}", "<@U0EVE>", HOSTILE, T, T + 60) for i in range(30)]

    blocks = hold_messages.holds_blocks(Holds(tuple(locks), tuple(freezes)), T)

    assert len(blocks) <= 4
    raw = json.dumps(blocks)
    assert "<!channel>" not in raw and "<https://evil" not in raw and "<@U0EVE>" not in raw
    assert all(len(b["text"]["text"]) <= blockkit.MAX_SECTION_TEXT for b in blocks if b["type"] == "section")
    assert "more freezes and locks not shown" in raw
    assert "No environment is frozen" in json.dumps(hold_messages.holds_blocks(Holds(), T))


def test_refusals_escape_and_shorten_the_reason():
    lock = Lock("payment", "U0ALICE", HOSTILE, T, T + 60)
    for message in (
        errors_module.locked("/ops-restart payment", lock, "abcd1234"),
        errors_module.frozen("/ops-restart payment", Freeze("prod", "U0ALICE", HOSTILE, T, T + 60), "abcd1234"),
        lock_module.lock_taken(lock, "abcd1234"),
    ):
        raw = json.dumps(message.blocks)
        assert "<!channel>" not in raw and "<https://evil" not in raw
        assert "…" in message.text and len(message.text) < 2000  # the reason cut at 300 characters, then escaped
