"""`plan_step` decides what a step does from its inputs alone: no moto, no Slack, no clock but the one given."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.blockkit import SlackMessage
from shared.commands import SettleArgs, spec_for_kind
from shared.commands.builtin.migrate import MigrateArgs
from shared.commands.builtin.ping import PingArgs
from shared.jobs import Continuation, JobEnvelope, Requester
from shared.policy import Approval
from shared.policy import Decision as PolicyDecision
from worker_function.errors import (
    AlreadyDecidedError,
    DecisionRefusedError,
    NotConfirmedError,
    PolicyDeniedError,
    StaleStateError,
)
from worker_function.operations._codebuild import BuildState
from worker_function.plan import ApproverRefused, Claimed, Refuse, Run, Stop, Verdict, plan_step

NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
ALLOWED = Verdict(PolicyDecision(allowed=True, rule="ops"), contact="#ops-help")
NEEDS_APPROVAL = PolicyDecision(allowed=True, rule="prod", approval=Approval(approvers=["U0BOB"], channel="C0APPR"))


def job(args=None, *, confirmed_by=None, approved_by=None, continuation=None, replace_original=False):
    args = args or MigrateArgs(target="payment", version="2024.06.1")
    return JobEnvelope(
        job_id="0123456789abcdef0123456789abcdef",
        command="/ops-migrate" if isinstance(args, MigrateArgs) else f"/ops-{args.kind}",
        text="payment",
        args=args,
        requester=Requester(user_id="U0ALICE", team_id="T1", channel_id="C1"),
        issued_at=NOW - timedelta(seconds=5),
        correlation_id="c",
        confirmed_by=confirmed_by,
        approved_by=approved_by,
        continuation=continuation,
        schema_version=2 if continuation else 1,
        replace_original=replace_original,
    )


def later(state, *, started_ago_s=60.0):
    return Continuation(step=3, state=state, started_at=NOW - timedelta(seconds=started_ago_s))


def plan(j, verdict=None, stored=None, now=NOW):
    return plan_step(j, spec_for_kind(j.kind), verdict, stored, now)


def test_a_confirmed_allowed_first_step_runs_replacing_its_prompt_and_audits_its_start():
    p = plan(job(confirmed_by="U0ALICE", replace_original=True), ALLOWED, Claimed("confirmed", won=True))

    assert p == Run(state=None, audits=(("start", "allowed by rule ops"),), replace_prompt=True)


def test_a_job_whose_prompt_was_decided_otherwise_first_is_refused_with_nothing_audited():
    p = plan(job(confirmed_by="U0ALICE"), ALLOWED, Claimed("expired", won=False))

    assert isinstance(p, Refuse) and isinstance(p.error, AlreadyDecidedError) and p.audit is None


def test_a_command_that_needs_confirming_is_refused_without_its_confirmation():
    p = plan(job(), ALLOWED)

    assert isinstance(p, Refuse) and isinstance(p.error, NotConfirmedError)
    assert p.audit == ("denial", "`/ops-migrate` runs only once its prompt is confirmed by the requester")


def test_a_denied_job_is_refused_with_the_policys_contact_when_the_rule_names_nobody():
    verdict = Verdict(PolicyDecision(allowed=False, rule="prod", reason="not on call"), contact="#ops-help")

    p = plan(job(confirmed_by="U0ALICE"), verdict, Claimed("confirmed", won=True))

    assert isinstance(p, Refuse) and isinstance(p.error, PolicyDeniedError)
    assert (p.error.rule, p.error.reason, p.error.ask) == ("prod", "not on call", "#ops-help")
    assert p.audit == ("denial", "rule prod: not on call")


def test_an_undecided_policy_is_a_denial_that_says_the_groups_could_not_be_checked():
    p = plan(job(confirmed_by="U0ALICE"), Verdict(PolicyDecision(allowed=None, rule="oncall")))

    assert isinstance(p, Refuse) and "user groups of rule `oncall` could not be checked" in str(p.error)


@pytest.mark.parametrize("approver", [None, "U0ALICE"], ids=["nobody", "the-requester-herself"])
def test_a_job_whose_rule_asks_for_approval_needs_a_second_person(approver):
    p = plan(job(confirmed_by="U0ALICE", approved_by=approver), Verdict(NEEDS_APPROVAL))

    assert isinstance(p, Refuse) and isinstance(p.error, PolicyDeniedError)
    assert p.audit == ("denial", "`/ops-migrate` needs the approval of a second person (rule `prod`)")


def test_an_approver_who_is_not_one_is_told_alone_and_nothing_is_decided():
    p = plan(job(confirmed_by="U0ALICE", approved_by="U0MALLORY"), Verdict(NEEDS_APPROVAL, approver_admitted=False))

    assert isinstance(p, Refuse) and isinstance(p.error, DecisionRefusedError)
    assert p.approver == ApproverRefused(by="U0MALLORY", channel="C0APPR", rule="prod") and p.audit is None


def test_an_admitted_approver_claims_the_approval_before_the_step_runs():
    p = plan(job(confirmed_by="U0ALICE", approved_by="U0BOB"), Verdict(NEEDS_APPROVAL, approver_admitted=True))

    assert isinstance(p, Run) and p.claim_approval == "U0BOB"
    assert p.audits == (("approval", "approved by U0BOB"), ("start", "allowed by rule prod"))


def test_a_later_step_resumes_from_its_typed_state_and_is_not_checked_again():
    state = BuildState(build_id="payment-migrate:1", summary="phase build")

    p = plan(job(confirmed_by="U0ALICE", continuation=later(state.model_dump())))

    assert p == Run(state=state)


def test_a_job_past_its_maximum_age_stops_and_tells_what_was_last_seen():
    state = BuildState(build_id="payment-migrate:1", summary="phase build").model_dump()

    p = plan(job(confirmed_by="U0ALICE", continuation=later(state, started_ago_s=6 * 3600 + 1)))

    assert isinstance(p, Stop) and p.error is None and isinstance(p.message, SlackMessage)
    assert "Last seen: phase build" in json.dumps(p.message.blocks)


def test_a_later_step_with_a_stale_state_stops_with_a_permanent_error():
    p = plan(job(confirmed_by="U0ALICE", continuation=later({"buildId": "x"})))

    assert isinstance(p, Stop) and isinstance(p.error, StaleStateError) and p.message is None


def test_a_stale_job_past_its_maximum_age_still_stops_as_timed_out():
    p = plan(job(confirmed_by="U0ALICE", continuation=later({"buildId": "x"}, started_ago_s=7 * 3600)))

    assert isinstance(p, Stop) and p.error is None and p.message is not None


def test_a_control_message_runs_as_it_is():
    settle = SettleArgs(prompt_id="0123456789abcdef", outcome="expired", not_before=0)

    assert plan(job(settle)) == Run()
    assert plan(job(PingArgs()), ALLOWED) == Run(audits=(("start", "allowed by rule ops"),))
