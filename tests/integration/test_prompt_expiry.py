"""Confirmation prompts that end without a click, or with a click that comes too late, end to end in-process:
the ack (signed commands and clicks) -> jobs -> the worker on moto and the local Slack API. Exactly one of
confirmed / cancelled / expired wins per prompt, and the requester's prompt ends showing which."""

from __future__ import annotations

from typing import Any

import pytest

from infra.devstack.demo import demo_inventory_toml
from shared.commands import SettleArgs
from shared.confirm import CONFIRM_TTL_S
from tests.integration.ack_flow import Flow, button
from tests.integration.test_audit import rows

LINE = "/ops-migrate payment 2024.06.1"
SRE_MIGRATE = """
[[policy.rules]]
name = "sre-migrate-prod"
commands = ["/ops-migrate"]
environments = ["prod"]
user_groups = ["S0SRE"]
ask = "<!subteam^S0SRE>"
"""


@pytest.fixture
def flow(harness) -> Flow:
    return Flow(harness, demo_inventory_toml(harness.cluster))


def ask(flow: Flow, user: str = "U0ALICE") -> tuple[str, str]:
    """The command answered with its prompt (and its expiry queued): the Confirm and Cancel tokens."""
    prompt = flow.command(LINE, user)
    flow.deliver()
    assert [type(t.args) for t in flow.timers] == [SettleArgs]
    return button(prompt["blocks"], "opsbot_confirm"), button(prompt["blocks"], "opsbot_cancel")


def prompt_id(flow: Flow) -> str:
    """The prompt's job id (named by its expiry job, delivered or not)."""
    settles = [job.args for job in flow.timers + flow.settled if isinstance(job.args, SettleArgs)]
    return settles[0].prompt_id


def events(flow: Flow, job_id: str) -> list[str]:
    return [r["event"] for r in rows(flow.harness, job_id)]


def replacements(flow: Flow, key: str) -> list[Any]:
    return [(m.payload["replace_original"], m.text) for m in flow.harness.slack.messages(key=key)]


def test_a_prompt_nobody_answers_is_replaced_by_expired_and_audited(flow):
    ask(flow)
    job_id = prompt_id(flow)

    flow.expire(CONFIRM_TTL_S + 60)

    [(replaced, text)] = replacements(flow, "requester")
    assert replaced is True
    assert f"The prompt to run `{LINE}` expired: nobody confirmed it within 5m 0s. Nothing was run." in text
    assert events(flow, job_id) == ["expired"]
    assert flow.harness.codebuild.builds_of("payment-migrate") == []


def test_the_expiry_waits_quietly_on_the_queue_until_its_time(flow, harness):
    ask(flow)
    [timer] = flow.timers

    harness.dispatcher().handle_record(timer.to_message(), 1)  # at once: it goes back on the queue, silent

    assert harness.slack.messages() == []
    [again] = harness.queued()
    assert harness.steps_of(again) == 1
    harness.clock.advance(CONFIRM_TTL_S + 60)
    harness.dispatcher().handle_record(again["Body"], 1)
    assert "expired" in harness.slack.messages(key="requester")[0].text


def test_a_confirm_just_before_the_expiry_wins_and_the_expiry_changes_nothing(flow, harness):
    confirm, _ = ask(flow)
    harness.clock.advance(CONFIRM_TTL_S - 1)
    flow.click("opsbot_confirm", confirm, "U0ALICE", channel="C0OPS", key="click")
    flow.deliver()
    seen = harness.slack.messages()
    assert "confirmed by <@U0ALICE>" in seen[0].text and seen[0].payload["replace_original"] is True

    flow.expire(CONFIRM_TTL_S + 60)

    assert harness.slack.messages() == seen
    assert "expired" not in events(flow, prompt_id(flow))
    assert len(harness.codebuild.builds_of("payment-migrate")) == 1


def test_a_confirm_that_reaches_the_worker_after_the_expiry_does_not_run(flow, harness):
    """Given a Confirm clicked in time, when the expiry job reached the worker first, then the job does not
    run and the requester reads why, in place of the prompt."""
    confirm, _ = ask(flow)
    flow.click("opsbot_confirm", confirm, "U0ALICE", channel="C0OPS", key="click")
    confirmed = list(flow.queue.jobs)
    flow.queue.jobs.clear()

    flow.expire(CONFIRM_TTL_S + 60)
    flow.queue.jobs.extend(confirmed)
    flow.deliver()

    [(replaced, text)] = replacements(flow, "click")
    assert replaced is True
    assert f"`{LINE}` was not run: the prompt had expired when the confirmation arrived." in text
    assert harness.codebuild.builds_of("payment-migrate") == []
    assert "start" not in events(flow, prompt_id(flow))


def test_cancel_wins_and_the_expiry_changes_nothing(flow, harness):
    _, cancel = ask(flow)
    flow.click("opsbot_cancel", cancel, "U0ALICE", channel="C0OPS", key="click")
    flow.deliver()

    flow.expire(CONFIRM_TTL_S + 60)

    assert replacements(flow, "click") == [(True, f":heavy_multiplication_x: `{LINE}` was cancelled. Nothing was run.")]
    assert replacements(flow, "requester") == []
    assert events(flow, prompt_id(flow)) == ["cancelled"]


def without_migrate_operators(demo: str) -> str:
    """The demo inventory with /ops-migrate taken out of its prod operators rule (the rule the test adds decides)."""
    operators = 'commands = ["/ops-restart", "/ops-migrate"]'
    assert operators in demo, "the demo's prod operators rule changed: take /ops-migrate out of it here"
    return demo.replace(operators, 'commands = ["/ops-restart"]')


def test_a_requester_outside_the_group_confirms_and_reads_only_the_denial_in_place_of_the_prompt(harness):
    """Given a rule that admits /ops-migrate on prod through a user group (the ack cannot resolve it, so it
    shows the prompt), when someone outside the group confirms, then the worker's denial replaces the prompt:
    one message, with the rule and who to ask; never "queued" first. The expiry changes nothing after."""
    toml = without_migrate_operators(demo_inventory_toml(harness.cluster))
    harness.slack.set_usergroup("S0SRE", ["U0BOB"])
    flow = Flow(harness, toml + SRE_MIGRATE)
    confirm, _ = ask(flow, user="U0EVE")
    flow.click("opsbot_confirm", confirm, "U0EVE", channel="C0OPS", key="click")

    flow.deliver()
    flow.expire(CONFIRM_TTL_S + 60)

    [(replaced, text)] = replacements(flow, "click")
    assert replaced is True
    assert f"`{LINE}` was denied by rule `sre-migrate-prod`" in text and "Ask <!subteam^S0SRE>" in text
    assert replacements(flow, "requester") == []
    assert harness.codebuild.builds_of("payment-migrate") == []


def test_a_requester_in_the_group_confirms_and_the_prompt_says_queued_once_access_is_checked(harness):
    toml = without_migrate_operators(demo_inventory_toml(harness.cluster))
    harness.slack.set_usergroup("S0SRE", ["U0BOB"])
    flow = Flow(harness, toml + SRE_MIGRATE)
    confirm, _ = ask(flow, user="U0BOB")
    flow.click("opsbot_confirm", confirm, "U0BOB", channel="C0OPS", key="click")

    flow.deliver()

    first, *rest = replacements(flow, "click")
    assert first[0] is True and "confirmed by <@U0BOB>: queued as job" in first[1]
    assert any("Migration of `payment`" in text for _, text in rest)


def test_one_decision_per_prompt_the_first_wins_and_a_redelivery_of_it_wins_again(harness):
    from infra.devstack.aws import aws_client
    from worker_function.store.decisions import Decisions

    decisions = Decisions(harness.tables.leases, client=aws_client("dynamodb", harness.moto.endpoint_url))
    decisions.open("p1", "C0APPROVALS", "123.456")

    first = decisions.claim("p1", "approved", "U0DAN")
    again = decisions.claim("p1", "approved", "U0DAN")
    other = decisions.claim("p1", "approved", "U0FRANK")
    expired = decisions.claim("p1", "expired")

    assert (first.won, again.won, other.won, expired.won) == (True, True, False, False)
    assert (expired.outcome, expired.by, expired.channel, expired.ts) == ("approved", "U0DAN", "C0APPROVALS", "123.456")
    assert decisions.claim("p2", "expired").won  # a confirmation prompt has no message to open
