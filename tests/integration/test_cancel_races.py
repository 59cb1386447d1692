"""/ops-cancel against bad luck, through the real worker on moto server, the local Slack API and the local
CodeBuild: each person hears one ending, the requester always hears how the job ended (cancelled, or completed
before the cancel) in the job's own message, the audit has it, and a failed write around the cancel (the audit,
the queue) does not decide what anyone is told."""

from __future__ import annotations

from typing import Any

import pytest

from infra.devstack.demo import demo_inventory_toml
from shared.jobs import JobEnvelope
from tests.integration.test_cancel import (
    ALICE,
    DANA,
    as_user,
    audit_events,
    deliver_queued,
    holder,
    registry,
    run_to_end,
    started_regression,
    texts,
)

DANA_CANCELS = '\n[[policy.rules]]\nname = "sre-cancel"\ncommands = ["/ops-cancel"]\nusers = ["U0DANA"]\n'


class Refused(Exception):
    """A fault injected in front of one call (the test's own, so nothing else catches it by mistake)."""


def fail_once(client: Any, operation: str, when: Any = lambda params: True) -> list[str]:
    """The next call of `operation` on `client` (whose parameters satisfy `when`) fails before it is sent."""
    failed: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if not failed and when(params):
            failed.append(operation)
            raise Refused(f"{operation} refused by the test")

    client.meta.events.register(f"provide-client-params.{client.meta.service_model.service_name}.{operation}", refuse)
    return failed


def started_migration(harness, worker) -> JobEnvelope:
    """alice's confirmed /ops-migrate payment, its build started (600 s long on the stand-in)."""
    job = harness.job("/ops-migrate payment")
    worker.handle_record(job.to_message(), 1)
    deliver_queued(harness, worker, advance=harness.poll_s)  # the build is under way: "in phase ..."
    assert len(harness.codebuild.builds_of("payment-migrate")) == 1
    return job


def last_said(harness, job: JobEnvelope) -> str:
    return texts(harness, job)[-1]


def cancel_job(harness, short_id: str, by: str) -> JobEnvelope:
    return as_user(harness.job(f"/ops-cancel {short_id}"), by)


@pytest.fixture
def dana_may_cancel(harness):
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + DANA_CANCELS


def test_dana_cancels_alices_migration_as_its_build_succeeds_and_alice_hears_it_completed(harness, dana_may_cancel):
    worker = harness.dispatcher()
    job = started_migration(harness, worker)
    assert "in phase" in last_said(harness, job)
    harness.clock.advance(700)  # the build ends by itself before the cancel reaches CodeBuild

    by_dana = cancel_job(harness, job.short_id, DANA)
    worker.handle_record(by_dana.to_message(), 1)
    run_to_end(harness, worker, job)  # the notice to alice, and the job's next step (which runs nothing)

    [dana_heard] = texts(harness, by_dana)
    assert "had already completed at its target" in dana_heard and "SUCCEEDED" in dana_heard
    alice_heard = last_said(harness, job)
    assert "completed at its target before the cancel by <@U0DANA>" in alice_heard, texts(harness, job)
    assert "SUCCEEDED" in alice_heard
    assert not [t for t in texts(harness, job) if t.startswith(":heavy_multiplication_x:")]  # one ending each
    assert "cancel" in audit_events(harness, job)
    assert harness.codebuild.builds_of("payment-migrate")[0].stopped_at is None


def test_the_requesters_own_cancel_replaces_the_jobs_progress_message(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    progress = harness.slack.messages(key=job.job_id)[-1]
    assert progress.text.startswith(":hourglass")

    by_alice = cancel_job(harness, job.short_id, ALICE)
    worker.handle_record(by_alice.to_message(), 1)
    deliver_queued(harness, worker, kinds=("notice",))

    last = harness.slack.messages(key=job.job_id)[-1]
    assert last.text.startswith(":heavy_multiplication_x:") and "was cancelled" in last.text, last.text
    assert last.payload.get("replace_original") is True  # the progress message itself, not one more below it
    [answer] = texts(harness, by_alice)
    assert "was cancelled" in answer


def test_a_failed_audit_write_during_a_cancel_changes_nothing_anyone_is_told(harness, dana_may_cancel):
    worker = harness.dispatcher()
    job = started_migration(harness, worker)
    audit_table = harness.tables.audit
    failed = fail_once(worker.ctx.audit._client, "PutItem", lambda params: params.get("TableName") == audit_table)

    by_dana = cancel_job(harness, job.short_id, DANA)
    try:
        worker.handle_record(by_dana.to_message(), 1)
    except Refused:  # were the cancel to fail with it, SQS would deliver it again
        worker.handle_record(by_dana.to_message(), 2)
    run_to_end(harness, worker, job)  # the notice, the audit note, the job's next step

    assert failed == ["PutItem"]
    [dana_heard] = texts(harness, by_dana)
    assert f"Job `{job.short_id}` (`/ops-migrate payment`) of <@{ALICE}> was cancelled" in dana_heard, dana_heard
    assert "Nothing was cancelled" not in dana_heard
    assert "was cancelled by <@U0DANA>" in last_said(harness, job)
    assert "cancel" in audit_events(harness, job)
    assert harness.codebuild.builds_of("payment-migrate")[0].stopped_at is not None
    assert registry(harness).get(job.job_id).state == "cancelled"


def test_a_cancel_retried_after_it_won_carries_on_and_says_what_it_did(harness, dana_may_cancel):
    """The cancel won the registry and stopped the build, then could not queue alice's notice: SQS delivers
    it again. The retry is not told "already cancelled": it tells dana and alice what the first attempt did
    (the build it stopped), audits it, and stops nothing twice."""
    worker = harness.dispatcher()
    job = started_migration(harness, worker)
    failed = fail_once(worker.ctx.queue._client, "SendMessage")

    by_dana = cancel_job(harness, job.short_id, DANA)
    with pytest.raises(Exception, match="SendMessage refused by the test"):
        worker.handle_record(by_dana.to_message(), 1)
    stops = harness.codebuild.builds_of("payment-migrate")[0].stopped_at
    worker.handle_record(by_dana.to_message(), 2)
    run_to_end(harness, worker, job)

    assert failed == ["SendMessage"] and stops is not None
    [dana_heard] = texts(harness, by_dana)
    assert "of <@U0ALICE> was cancelled" in dana_heard and "stopped (StopBuild)" in dana_heard, dana_heard
    assert "was cancelled by <@U0DANA>" in last_said(harness, job)
    assert "cancel" in audit_events(harness, job)
    assert harness.codebuild.builds_of("payment-migrate")[0].stopped_at == stops
    assert holder(harness, "payment") is None


def test_a_second_cancel_by_the_same_person_is_told_already_cancelled(harness):
    worker = harness.dispatcher()
    job = started_regression(harness, worker)
    first = cancel_job(harness, job.short_id, ALICE)
    worker.handle_record(first.to_message(), 1)

    again = cancel_job(harness, job.short_id, ALICE)
    worker.handle_record(again.to_message(), 1)

    [said] = texts(harness, again)
    assert "was already cancelled by <@U0ALICE>" in said and "Nothing was cancelled" in said


def test_a_long_jobs_channel_progress_message_is_updated_in_place_when_it_is_cancelled(harness):
    """Once a long job's response_url is spent its progress is a channel message edited with chat.update: the
    cancel edits that message too (no "in phase build" left behind), rather than posting one more."""
    worker = harness.dispatcher()
    job = harness.job("/ops-regression smoke", response_url=None)  # its progress goes to the channel
    worker.handle_record(job.to_message(), 1)
    deliver_queued(harness, worker, advance=harness.poll_s)  # step 1: the build runs on
    [posted] = [m for m in harness.slack.messages() if m.kind == "chat.postMessage"]
    assert posted.text.startswith(":hourglass_flowing_sand:")

    by_alice = cancel_job(harness, job.short_id, ALICE)
    worker.handle_record(by_alice.to_message(), 1)
    deliver_queued(harness, worker, kinds=("notice",))

    calls = harness.slack.messages()
    assert [m for m in calls if m.kind == "chat.postMessage"] == [posted]  # nothing posted anew
    assert calls[-1].kind == "chat.update" and calls[-1].ts == posted.ts, [(m.kind, m.text) for m in calls]
    assert calls[-1].text.startswith(":heavy_multiplication_x:") and "was cancelled" in calls[-1].text
    assert calls[-1].channel == "C0OPS"  # the progress message itself, edited in place
