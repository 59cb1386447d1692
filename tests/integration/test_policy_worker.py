"""The worker re-checks the policy before running, resolving user groups through the local Slack API."""

from __future__ import annotations

import pytest

from opsbot_testkit.harness import Harness
from shared.jobs import Requester
from tests.unit.test_policy import POLICY_TOML
from worker_function.errors import GroupLookupError


def as_user(harness: Harness, line: str, user: str, channel: str = "C0OPS"):
    job = harness.job(line)
    requester = Requester(user_id=user, team_id="T0001", channel_id=channel)
    return job.model_copy(update={"requester": requester})


def texts(harness: Harness, job) -> list[str]:
    return [m.text for m in harness.slack.wait_for_messages(job=job.job_id, final=True, timeout=5)]


def with_policy(harness: Harness) -> Harness:
    cluster = harness.cluster
    harness.inventory_toml = POLICY_TOML.replace('cluster = "c"', f'cluster = "{cluster}"')
    harness.slack.set_usergroup("S0SRE", ["U0BOB"])
    return harness


def test_a_member_of_the_allowed_user_group_restarts_prod(harness):
    with_policy(harness)
    before = harness.primary_deployment("payment")
    job = as_user(harness, "/ops-restart payment", "U0BOB")

    harness.run(job)

    assert harness.primary_deployment("payment") != before
    assert any("completed" in t for t in texts(harness, job))


def test_someone_outside_the_group_is_denied_by_the_worker_naming_the_rule_and_nothing_runs(harness):
    with_policy(harness)
    before = harness.primary_deployment("payment")
    job = as_user(harness, "/ops-restart payment", "U0EVE")

    harness.run(job)

    [text] = texts(harness, job)
    assert "denied by rule `sre-restart-prod`" in text and "Ask <!subteam^S0SRE>" in text
    assert harness.primary_deployment("payment") == before
    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "response_url" and message.payload.get("response_type") == "ephemeral"


def test_group_members_are_cached_between_jobs(harness):
    with_policy(harness)
    worker = harness.dispatcher()
    for _ in range(2):
        worker.handle_record(as_user(harness, "/ops-restart checkout", "U0EVE").to_message(), 1)
        worker.handle_record(as_user(harness, "/ops-logs payment", "U0BOB").to_message(), 1)
    denied = as_user(harness, "/ops-restart payment", "U0EVE")
    worker.handle_record(denied.to_message(), 1)
    worker.handle_record(as_user(harness, "/ops-restart payment", "U0CAROL").to_message(), 1)

    lists = [c for c in harness.slack.calls if c.path == "/api/usergroups.users.list"]
    assert len(lists) == 1
    assert worker.groups is not None and worker.groups.lookups == 1


def test_a_group_slack_will_not_list_admits_nobody(harness):
    with_policy(harness)
    harness.inventory_toml = harness.inventory_toml.replace("S0SRE", "S0GONE")
    job = as_user(harness, "/ops-restart payment", "U0BOB")

    harness.run(job)

    [text] = texts(harness, job)
    assert "denied by rule `sre-restart-prod`" in text


def finals_of(harness: Harness, job) -> list[str]:
    return [m.text for m in harness.slack.messages(job=job.job_id) if m.final]


def test_a_group_check_slack_fails_once_is_retried_silently_and_the_requester_gets_one_answer(harness):
    """Given a restart of prod that needs a group member, Slack fails to list the group on the first receive
    (5xx, retries used up): the delivery fails so SQS retries it, and the requester is told nothing yet; the
    retry, with Slack back, runs the job and answers once."""
    with_policy(harness)
    worker = harness.dispatcher()
    job = as_user(harness, "/ops-restart payment", "U0BOB")
    harness.slack.inject_fault("usergroups.users.list", 500, times=10)

    with pytest.raises(GroupLookupError):  # transient: SQS delivers it again
        worker.handle_record(job.to_message(), 1)
    assert harness.slack.messages(job=job.job_id) == []

    harness.slack.clear_faults()
    harness.run(job, worker)  # SQS's next delivery, then the steps it queues

    [final] = finals_of(harness, job)
    assert "Restart of `payment` completed" in final


def test_a_group_check_failing_on_every_receive_tells_the_requester_once_on_the_last(harness):
    with_policy(harness)
    worker = harness.dispatcher()
    job = as_user(harness, "/ops-restart payment", "U0BOB")
    harness.slack.inject_fault("usergroups.users.list", 500, times=100)
    last = worker.max_receive_count

    for receive in range(1, last):
        with pytest.raises(GroupLookupError):
            worker.handle_record(job.to_message(), receive)
    assert harness.slack.messages(job=job.job_id) == []
    worker.handle_record(job.to_message(), last)  # the last receive: told, not retried

    [final] = finals_of(harness, job)
    assert "could not check your group membership, try again" in final
    harness.slack.clear_faults()
    for successor in harness.queued():  # queued before the last receive ran, in case it died: it stops quietly
        harness.delete(successor)
        harness.dispatcher().handle_record(successor["Body"], 1)
    assert len(finals_of(harness, job)) == 1
