"""The registry of jobs on moto server: one ending per job, decided by a conditional write (the race of a cancel
and the job's last step, in both orders), records listed and found by their short id, and a registry that
cannot be written adds no failure to a job: it runs once and answers once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from infra.devstack.aws import aws_client
from worker_function.store.jobs import ENDED_TTL_S, DynamoJobs, GivenUp, JobRecord


@pytest.fixture
def jobs(moto_server, tables) -> DynamoJobs:
    return DynamoJobs(tables.leases, client=aws_client("dynamodb", moto_server.endpoint_url), now=lambda: 1_000_000.0)


def record(job_id: str = "7f3a2b1c" + "0" * 24, **values: Any) -> JobRecord:
    return JobRecord(job_id=job_id, display="/ops-regression smoke", requester="U0ALICE", **values)


def test_the_last_step_first_then_the_cancel_loses_and_is_told_how_it_ended(jobs):
    jobs.track(record(state="waiting", waiting_for="next step"))

    finished = jobs.end(record().job_id, "finished", "Regression suite `smoke` succeeded")
    late = jobs.end(record().job_id, "cancelled", "cancelled by U0BOB", "U0BOB")

    assert finished.won and not late.won
    assert late.state == "finished" and late.outcome == "Regression suite `smoke` succeeded"


def test_a_job_given_up_says_where_as_a_typed_field_whatever_its_outcome_text(jobs):
    jobs.track(record(state="running", step=1))

    ended = jobs.end(record().job_id, "finished", "it broke: at step 9", given_up=GivenUp(step=1, requeued=2))

    for standing in (ended, jobs.get(record().job_id), jobs.track(record(state="running", step=1))):
        assert standing is not None and standing.given_up == GivenUp(step=1, requeued=2)
    assert jobs.end(record("8" * 32).job_id, "finished", "failed after 3 attempts at step 1: x").given_up is None
    where = GivenUp(step=1, requeued=2)
    assert where.covers(2, 0) and where.covers(1, 3)  # a later step; a copy that copy put back on the queue
    assert not where.covers(1, 2) and not where.covers(0, 5)  # the very copy (a redrive); an earlier step


def test_the_cancel_first_then_the_last_step_loses_and_a_repeat_of_each_winner_wins_again(jobs):
    jobs.track(record(state="running"))

    cancelled = jobs.end(record().job_id, "cancelled", "cancelled by U0BOB", "U0BOB")
    step = jobs.end(record().job_id, "finished", "succeeded")
    again = jobs.end(record().job_id, "cancelled", "cancelled by U0BOB", "U0BOB")
    other = jobs.end(record().job_id, "cancelled", "cancelled by U0DANA", "U0DANA")

    assert cancelled.won and not step.won and step.state == "cancelled" and step.cancelled_by == "U0BOB"
    assert again.won and not other.won
    assert jobs.track(record(state="running")).state == "cancelled"  # a later step sees it and does not run


def test_a_prompts_first_record_does_not_overwrite_a_job_already_running(jobs):
    jobs.track(record(state="running", step=2))

    standing = jobs.track(record(state="waiting", waiting_for="confirmation"), first=True)

    assert standing is not None and standing.state == "running" and jobs.get(record().job_id).step == 2


def test_jobs_are_found_by_their_short_id_and_listed_oldest_first_with_the_ended_kept_a_day(jobs, moto_server, tables):
    jobs.track(record("aaaa0000" + "1" * 24, since=20.0, state="running"))
    jobs.track(record("aaaa1111" + "2" * 24, since=10.0, state="waiting", waiting_for="approval"))
    jobs.end("aaaa1111" + "2" * 24, "finished", "approved, then succeeded")

    assert [r.job_id[:8] for r in jobs.find("aaaa0")] == ["aaaa0000"]
    assert len(jobs.find("aaaa")) == 2
    jobs.track(record("aaaa2222" + "3" * 24, since=5.0, state="waiting", waiting_for="approval"))
    assert [r.job_id[:8] for r in jobs.active()] == ["aaaa2222", "aaaa0000"]  # the ended one is not active
    item = aws_client("dynamodb", moto_server.endpoint_url).get_item(
        TableName=tables.leases, Key={"target": {"S": "job#aaaa1111" + "2" * 24}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == 1_000_000 + ENDED_TTL_S


def test_a_registry_that_cannot_be_written_adds_no_failure_the_job_runs_once_and_answers_once(harness):
    worker = harness.dispatcher()
    refused: list[str] = []

    def registry_down(params: dict[str, Any], **_: Any) -> None:
        key = (params.get("Item") or params.get("Key") or {}).get("target", {}).get("S", "")
        if key.startswith("job#"):
            refused.append(key)
            raise EndpointConnectionError(endpoint_url="http://dynamodb")

    events = worker.ctx.aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.PutItem", registry_down)
    events.register("before-parameter-build.dynamodb.UpdateItem", registry_down)
    job = harness.job("/ops-regression smoke")

    harness.run(job, worker)

    assert refused  # every registry write failed
    assert len(harness.codebuild.builds_of("regression-smoke")) == 1
    finals = [m for m in harness.slack.messages(job=job.job_id) if m.final]
    assert len(finals) == 1 and "Regression suite `smoke` succeeded" in finals[0].text
