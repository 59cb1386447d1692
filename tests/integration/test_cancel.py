"""/ops-jobs, /ops-cancel and the App Home tab through the real worker on moto server, the local Slack API, the
local CodeBuild and the local Jenkins: what each person saw, what ran (or stopped) at the target, the lease.

Long jobs are delivered step by step (the clock moved by hand), so a cancel can land between two steps, or,
through a botocore hook (the fault-injection style of opsbot_testkit/faults.py), in the middle of the job's
last step: exactly one of "cancelled" / "completed" is told, and it is what happened at the target.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.devstack.aws import aws_client
from infra.devstack.demo import JENKINS_JOB, demo_inventory_toml
from shared.confirm import settlement
from shared.jobs import JobEnvelope, Requester, audit_target
from worker_function.store.jobs import DynamoJobs

ALICE = "U0ALICE"
BOB = "U0BOB"
DANA = "U0DANA"


def as_user(job: JobEnvelope, user: str) -> JobEnvelope:
    return job.changed(requester=Requester(user_id=user, user_name=user.lower(), team_id="T0001", channel_id="C0OPS"))


def texts(harness, job) -> list[str]:
    """What reached the job's response_url (the harness keys it by the job id): its own messages, and the
    settlements and notices that answer through it."""
    return [m.text for m in harness.slack.messages(key=job.job_id)]


def deliver_queued(harness, worker, *, advance: float = 0.0, kinds: tuple[str, ...] = ()) -> list[JobEnvelope]:
    """Deliver what is on the jobs queue now, once each (after moving the clock), as the event source would;
    with `kinds`, only those job kinds (the others are left on the queue). Returns the jobs delivered."""
    delivered = []
    harness.clock.advance(advance)
    for message in harness.queued():
        job = JobEnvelope.from_message(message["Body"])
        if kinds and job.kind not in kinds:
            continue
        worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
        harness.delete(message)
        delivered.append(job)
    return delivered


def run_to_end(harness, worker, job: JobEnvelope) -> None:
    """The job's remaining steps (and anything they queue), until the queue is empty."""
    for _ in range(30):
        if not deliver_queued(harness, worker, advance=harness.poll_s):
            return
    raise AssertionError(f"{job.display} still running")


def cancel(harness, worker, short_id: str, *, by: str = ALICE) -> JobEnvelope:
    """`/ops-cancel <id>` as `by`, run by the worker; the notices it queues are delivered too."""
    job = as_user(harness.job(f"/ops-cancel {short_id}"), by)
    worker.handle_record(job.to_message(), 1)
    return job


def answer(harness, job) -> str:
    [said] = texts(harness, job)
    return said


def registry(harness) -> DynamoJobs:
    return DynamoJobs(harness.tables.leases, client=aws_client("dynamodb", harness.moto.endpoint_url))


def holder(harness, target: str) -> dict[str, Any] | None:
    item = aws_client("dynamodb", harness.moto.endpoint_url).get_item(
        TableName=harness.tables.leases, Key={"target": {"S": target}}, ConsistentRead=True
    )
    return item.get("Item")


def audit_events(harness, job: JobEnvelope) -> list[str]:
    items = aws_client("dynamodb", harness.moto.endpoint_url).query(
        TableName=harness.tables.audit,
        KeyConditionExpression="#t = :t",
        ExpressionAttributeNames={"#t": "target"},
        ExpressionAttributeValues={":t": {"S": audit_target(job)}},
    )["Items"]
    return [i["event"]["S"] for i in items if i["job_id"]["S"] == job.job_id]


def started_regression(harness, worker) -> JobEnvelope:
    """/ops-regression smoke by alice, its first step run: the build started, the next step waits."""
    job = harness.job("/ops-regression smoke")
    worker.handle_record(job.to_message(), 1)
    assert len(harness.codebuild.builds_of("regression-smoke")) == 1
    return job


# -- /ops-jobs --------------------------------------------------------------------------------------


def test_jobs_lists_a_running_regression_with_its_step_and_lease_and_who_holds_it(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)

    listing = as_user(harness.job("/ops-jobs"), BOB)
    worker.handle_record(listing.to_message(), 1)

    [message] = harness.slack.messages(key=listing.job_id)
    shown = json.dumps(message.payload["blocks"])
    assert f"`{job.short_id}` `/ops-regression smoke` by <@{ALICE}>" in shown
    assert "waits for its next step: step 0, started" in shown and "holds the lease on `smoke`" in shown
    assert f"`smoke`: `/ops-regression smoke` by <@{ALICE}>" in shown  # the leases section
    assert "1 waiting, 1 lease held" in message.text
    assert message.payload.get("response_type", "ephemeral") == "ephemeral"


def test_jobs_of_a_target_shows_only_that_target_and_nothing_once_the_job_ended(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    for_checkout = harness.job("/ops-jobs checkout")
    worker.handle_record(for_checkout.to_message(), 1)
    assert "0 running, 0 waiting, 0 leases held" in answer(harness, for_checkout)

    run_to_end(harness, worker, job)
    for_smoke = harness.job("/ops-jobs smoke")
    worker.handle_record(for_smoke.to_message(), 1)

    assert "0 running, 0 waiting, 0 leases held" in answer(harness, for_smoke)


# -- /ops-cancel ------------------------------------------------------------------------------------


def test_the_requester_cancels_a_regression_run_the_build_is_stopped_and_no_later_step_runs(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    harness.clock.advance(harness.poll_s)  # the build runs on

    cancelled = cancel(harness, worker, job.short_id)

    said = answer(harness, cancelled)
    assert f"Job `{job.short_id}` (`/ops-regression smoke`) was cancelled" in said
    [build] = harness.codebuild.builds_of("regression-smoke")
    assert build.stopped_at is not None  # StopBuild reached the stand-in
    assert holder(harness, "smoke") is None  # the lease is released
    looks: list[str] = []
    worker.ctx.aws.client("codebuild").meta.events.register(
        "before-call.codebuild", lambda model, **_: looks.append(model.name)
    )
    run_to_end(harness, worker, job)  # its next step comes back from the queue: it does not run
    assert looks == []  # not even a look at the build: the registry said "cancelled" at the step boundary
    assert not [t for t in texts(harness, job) if "succeeded" in t or "stopped in" in t], texts(harness, job)
    assert registry(harness).get(job.job_id).state == "cancelled"
    assert "cancel" in audit_events(harness, job)


def test_someone_elses_job_is_refused_saying_why_and_it_runs_on(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)

    refused = cancel(harness, worker, job.short_id, by=BOB)

    said = answer(harness, refused)
    assert "You may not cancel job" in said and f"it is <@{ALICE}>'s" in said
    assert harness.codebuild.builds_of("regression-smoke")[0].stopped_at is None
    run_to_end(harness, worker, job)
    assert any("Regression suite `smoke` succeeded" in t for t in texts(harness, job))
    assert "denial" in audit_events(harness, job)


def test_a_cancel_rule_lets_its_users_cancel_anyones_job_and_tells_the_requester(harness):
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + (
        '\n[[policy.rules]]\nname = "sre-cancel"\ncommands = ["/ops-cancel"]\nusers = ["U0DANA"]\n'
    )
    worker = harness.dispatcher()
    job = started_regression(harness, worker)

    by_dana = cancel(harness, worker, job.short_id, by=DANA)
    deliver_queued(harness, worker, kinds=("notice",))  # the requester's notice

    assert f"of <@{ALICE}> was cancelled" in answer(harness, by_dana)
    assert any(f"was cancelled by <@{DANA}>" in t for t in texts(harness, job))
    assert harness.codebuild.builds_of("regression-smoke")[0].stopped_at is not None


def test_an_unknown_job_is_refused_and_a_finished_one_says_how_it_ended(harness):
    worker = harness.dispatcher()
    unknown = cancel(harness, worker, "deadbeef")
    assert "There is no job `deadbeef`: nothing was cancelled" in answer(harness, unknown)

    job = started_regression(harness, worker)
    run_to_end(harness, worker, job)
    late = cancel(harness, worker, job.short_id)

    said = answer(harness, late)
    assert "already finished with" in said and "Regression suite `smoke` succeeded" in said


def test_a_jenkins_build_is_stopped_and_ends_aborted(harness):
    harness.jenkins.add_job(JENKINS_JOB, queue_s=2, build_s=600)
    worker = harness.dispatcher()
    job = harness.job("/ops-build deploy-web ENV=staging")
    worker.handle_record(job.to_message(), 1)
    deliver_queued(harness, worker, advance=harness.poll_s)  # out of the queue: building

    cancelled = cancel(harness, worker, job.short_id)

    assert f"Jenkins `{JENKINS_JOB}` #1 stopped" in answer(harness, cancelled)
    stops = [c for c in harness.jenkins.calls if c.path.endswith("/1/stop")]
    assert [(c.method, c.status) for c in stops] == [("POST", 200)]
    assert harness.jenkins.queued[0].stopped_at is not None
    run_to_end(harness, worker, job)
    told = texts(harness, job)
    [ended] = [t for t in told if t.startswith(":heavy_multiplication_x:")]  # its message says it was cancelled
    assert not [t for t in told if t != ended and ("ABORTED" in t or "SUCCESS" in t)]  # the job told no result


def test_a_jenkins_build_still_in_the_queue_is_cancelled_there(harness):
    harness.jenkins.add_job(JENKINS_JOB, queue_s=600, build_s=60)
    worker = harness.dispatcher()
    job = harness.job("/ops-build deploy-web")
    worker.handle_record(job.to_message(), 1)

    cancelled = cancel(harness, worker, job.short_id)

    assert f"queue item 100 of `{JENKINS_JOB}` cancelled" in answer(harness, cancelled)
    assert harness.jenkins.queued[0].cancelled is True


def test_a_waiting_confirmation_prompt_is_settled_as_cancelled_and_a_later_confirm_runs_nothing(harness):
    worker = harness.dispatcher()
    job = harness.job("/ops-migrate payment", confirmed=False)
    expiry = settlement(job, "expired", target="payment")  # queued by the ack with the prompt
    worker.handle_record(expiry.to_message(), 1)
    assert registry(harness).get(job.job_id).waiting_for == "confirmation"

    cancelled = cancel(harness, worker, job.short_id)
    deliver_queued(harness, worker, kinds=("settle",))  # the settlement the cancel queued

    assert "its confirmation is closed" in answer(harness, cancelled)
    [closed] = [m for m in harness.slack.messages(key=job.job_id) if "was cancelled" in m.text]
    assert closed.payload.get("replace_original") is True  # the prompt is replaced, its buttons gone
    confirmed = job.changed(confirmed_by=ALICE, replace_original=True)
    worker.handle_record(confirmed.to_message(), 1)  # a Confirm clicked before the prompt was replaced
    assert harness.codebuild.builds_of("payment-migrate") == []


# -- the race: cancel vs the job's last step ----------------------------------------------------------


def test_race_the_last_step_first_then_the_cancel_says_already_finished(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    run_to_end(harness, worker, job)  # the last step wins

    late = cancel(harness, worker, job.short_id)

    completed = [t for t in texts(harness, job) if "succeeded" in t]
    assert len(completed) == 1 and "already finished with" in answer(harness, late)
    assert harness.codebuild.builds_of("regression-smoke")[0].stopped_at is None


def test_race_the_cancel_first_then_the_last_step_says_nothing(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    harness.clock.advance(400)  # past the build's end: its next look would see SUCCEEDED

    cancelled = cancel(harness, worker, job.short_id)
    run_to_end(harness, worker, job)

    # The build had ended by itself before StopBuild: that is the one thing told, and no "succeeded" beside it.
    assert "had already completed at its target" in answer(harness, cancelled)
    assert "SUCCEEDED" in answer(harness, cancelled)
    assert not [t for t in texts(harness, job) if "succeeded" in t]
    assert harness.codebuild.builds_of("regression-smoke")[0].stopped_at is None


def test_race_a_cancel_during_the_last_step_exactly_one_of_cancelled_and_completed_is_told(harness):
    """The cancel lands while the last step runs (after its registry check, before its BatchGetBuilds answer
    is read): the cancel wins the record; the step, seeing SUCCEEDED, loses its `finished` write and tells
    nothing; the cancel's StopBuild finds the build ended and tells "completed", consistent with CodeBuild."""
    worker = harness.dispatcher()
    canceller = harness.dispatcher()
    job = started_regression(harness, worker)
    outcome: dict[str, JobEnvelope] = {}

    def cancel_now(**_: Any) -> None:
        if "job" not in outcome:
            outcome["job"] = cancel(harness, canceller, job.short_id)

    events = worker.ctx.aws.client("codebuild").meta.events
    events.register("before-call.codebuild.BatchGetBuilds", cancel_now)
    harness.clock.advance(400)
    deliver_queued(harness, worker, kinds=("regression",))  # the last step, with the cancel inside it
    run_to_end(harness, worker, job)

    told = [*texts(harness, job), answer(harness, outcome["job"])]
    completed = [t for t in told if "succeeded" in t or "had already completed" in t]
    cancelled = [t for t in told if t.startswith((":octagonal_sign:", ":heavy_multiplication_x:"))]
    assert len(completed) + len(cancelled) == 1, told
    assert completed and harness.codebuild.builds_of("regression-smoke")[0].stopped_at is None


def test_race_a_cancel_during_a_step_that_still_waits_stops_what_the_step_saw_running(harness):
    worker = harness.dispatcher()
    canceller = harness.dispatcher()
    job = started_regression(harness, worker)
    outcome: dict[str, JobEnvelope] = {}

    def cancel_now(**_: Any) -> None:
        if "job" not in outcome:
            outcome["job"] = cancel(harness, canceller, job.short_id)

    worker.ctx.aws.client("codebuild").meta.events.register("before-call.codebuild.BatchGetBuilds", cancel_now)
    deliver_queued(harness, worker, advance=harness.poll_s, kinds=("regression",))
    run_to_end(harness, worker, job)

    assert "was cancelled" in answer(harness, outcome["job"])
    assert not [t for t in texts(harness, job) if "succeeded" in t or "stopped in" in t]  # the step told nothing
    assert harness.codebuild.builds_of("regression-smoke")[0].stopped_at is not None
    assert holder(harness, "smoke") is None


# -- App Home ---------------------------------------------------------------------------------------


def test_app_home_shows_the_viewers_running_jobs_and_is_published_with_views_publish(harness):
    from shared.commands import HomeArgs

    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    home = harness.job("/ops-help").changed(args=HomeArgs(), command="", text="", response_url=None)

    worker.handle_record(home.to_message(), 1)

    [view] = harness.slack.home_views(ALICE)
    shown = json.dumps(view["blocks"])
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert f"`{job.short_id}` `/ops-regression smoke`" in shown
    assert "Approvals waiting for you" in shown


def test_an_ecs_restart_is_cancelled_and_its_deployment_is_left_to_finish_and_said_so(harness):
    worker = harness.dispatcher()
    job = harness.job("/ops-restart checkout")
    worker.handle_record(job.to_message(), 1)

    cancelled = cancel(harness, worker, job.short_id)

    said = answer(harness, cancelled)
    assert "was cancelled" in said and "the ECS deployment is left to finish" in said
    assert holder(harness, "checkout") is None


def test_an_approval_waiting_shows_on_the_approvers_home_and_a_cancel_closes_its_message(harness):
    from shared.commands import ApprovalRequestArgs, HomeArgs

    worker = harness.dispatcher()
    job = harness.job("/ops-migrate payment", confirmed=False)
    request = job.changed(
        job_id="a" * 32,
        args=ApprovalRequestArgs(
            token="t",
            reject_token="r",
            approvers=[DANA],
            channel="C0APPROVALS",
            rule="second",
            job_id=job.job_id,
            target="payment",
        ),
    )
    worker.handle_record(request.to_message(), 1)  # the request is posted in #approvals
    home = harness.job("/ops-help").changed(args=HomeArgs(), command="", text="", response_url=None)
    worker.handle_record(as_user(home, DANA).to_message(), 1)
    [view] = harness.slack.home_views(DANA)
    waiting_for_dana = json.dumps(view["blocks"])
    assert f"`{job.short_id}` `/ops-migrate payment` by <@{ALICE}>" in waiting_for_dana

    cancelled = cancel(harness, worker, job.short_id)
    deliver_queued(harness, worker, kinds=("settle",))

    assert "its approval is closed" in answer(harness, cancelled)
    [closed] = [m for m in harness.slack.messages(channel="C0APPROVALS") if m.kind == "chat.update"]
    assert "cancelled" in closed.text.lower() and "actions" not in json.dumps(closed.payload.get("blocks"))
    assert registry(harness).get(job.job_id).state == "cancelled"


class Killed(Exception):
    """The worker dies at this call (the chaos campaign's kill): the call is not made."""


def test_a_confirmed_job_cancelled_before_it_claimed_its_confirmation_is_told_once_and_never_expires(harness):
    """A Confirm's job wrote "running" and died before it claimed its confirmation; /ops-cancel then ends it as a
    running job. The cancel claims the prompt's decision as cancelled first, so the prompt's expiry, later,
    loses it and says nothing: the requester hears "cancelled" once, never "expired" after it."""
    worker = harness.dispatcher()
    job = harness.job("/ops-migrate payment", confirmed=False)
    expiry = settlement(job, "expired", target="payment")  # queued by the ack with the prompt
    worker.handle_record(expiry.to_message(), 1)
    confirmed = job.changed(confirmed_by=ALICE, replace_original=True)

    def die_at_the_claim(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", {}).get("target", {}).get("S", "").startswith("decision#"):
            raise Killed("killed before the confirmation's claim")

    dying = harness.dispatcher()
    events = dying.ctx.aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", die_at_the_claim)
    with pytest.raises(Killed):
        dying.handle_record(confirmed.to_message(), 1)
    assert registry(harness).get(job.job_id).state == "running"

    cancelled = cancel(harness, worker, job.short_id)
    deliver_queued(harness, worker, kinds=("notice",))  # the requester's notice the cancel queued
    worker.handle_record(confirmed.to_message(), 2)  # the Confirm's job, delivered again: it stops
    expired = 0
    for _ in range(10):  # the expiry's next looks, until it is past the prompt's time and ends
        harness.clock.advance(harness.poll_s)
        pending = harness.queued(wait=2)  # what an earlier receive left invisible comes back within its timeout
        if not pending:
            break
        for message in pending:
            worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
            harness.delete(message)
            expired += JobEnvelope.from_message(message["Body"]).kind == "settle"
    assert expired  # the expiry did look again, past its time

    assert "was cancelled" in answer(harness, cancelled)
    told = texts(harness, job)
    assert len([t for t in told if "was cancelled" in t]) == 1
    assert not [t for t in told if "expired" in t]
    assert harness.codebuild.builds_of("payment-migrate") == []
