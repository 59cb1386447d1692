"""The worker on moto server and the local Slack API: what ran, and what the requester saw."""

from __future__ import annotations

import json
import threading
import time

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from opsbot_testkit.faults import WorkerKilled
from opsbot_testkit.harness import minutes_ago
from shared.confirm import CONFIRM_TTL_S, settlement
from shared.errors import EnqueueError
from shared.jobs import JobEnvelope, audit_target
from shared.settings import MAX_RECEIVE_COUNT
from tests.integration.conftest import gone_and_stuck_toml
from worker_function.errors import SlackDeliveryError


def final_texts(harness, job) -> list[str]:
    """The texts of the job's final messages (a long job's progress messages are left out)."""
    return [m.text for m in harness.slack.wait_for_messages(job=job.job_id, final=True, timeout=5) if m.final]


def test_ping_is_answered_on_the_response_url_with_the_queue_wait(harness):
    job = harness.job("/ops-ping")

    harness.dispatcher().handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(key=job.job_id)
    assert message.kind == "response_url"
    assert "pong" in message.text and f"job `{job.short_id}`" in message.text
    assert message.final


def test_deploy_status_renders_the_services_deployments(harness):
    job = harness.job("/deploy-status payment")

    harness.dispatcher().handle_record(job.to_message(), 1)

    [text] = final_texts(harness, job)
    assert "Deploy status of `payment`" in text
    assert "*PRIMARY*" in text and "2/2 running" in text and "`payment:2`" in text


def test_an_unknown_target_is_told_at_once_with_the_known_ones_closest_first_and_not_retried(harness):
    job = harness.job("/deploy-status paymnt")

    harness.dispatcher().handle_record(job.to_message(), 1)  # returns: the message is deleted, not retried

    [text] = final_texts(harness, job)
    assert "was not run" in text and "I don't know target `paymnt`" in text
    assert "Known targets, closest first: `payment`, `payment-eu`, `checkout`" in text
    assert harness.dead_letters() == [] and harness.queued() == []


def test_a_target_whose_ecs_service_does_not_exist_is_a_permanent_error(harness):
    harness.inventory_toml = gone_and_stuck_toml(harness.cluster)
    job = harness.job("/deploy-status gone")

    harness.dispatcher().handle_record(job.to_message(), 1)

    [text] = final_texts(harness, job)
    assert "failed" in text and "no ECS service `gone`" in text
    assert harness.dead_letters() == []


def test_the_same_job_delivered_twice_runs_once_and_answers_once(harness):
    job = harness.job("/ops-restart payment")
    worker = harness.dispatcher()

    worker.handle_record(job.to_message(), 1)
    deployment = harness.primary_deployment("payment")
    worker.handle_record(job.to_message(), 2)
    harness.run(job, worker)  # the first step again (a third copy), then the steps it queued

    assert harness.primary_deployment("payment") == deployment  # no second forceNewDeployment
    texts = [m.text for m in harness.slack.messages(job=job.job_id)]
    assert "Restart of `payment` started" in texts[0] and deployment in texts[0]
    assert [t for t in texts if "completed" in t] == [texts[-1]] and deployment in texts[-1]


def test_the_same_job_delivered_twice_at_once_runs_once_and_the_duplicate_is_not_lost(harness):
    job = harness.job("/ops-ping 1.5")
    workers = [harness.dispatcher(), harness.dispatcher()]  # two Lambda instances
    outcomes: list[object] = []

    def deliver(worker) -> None:
        try:
            worker.handle_record(job.to_message(), 1)
            outcomes.append("handled")
        except IdempotencyAlreadyInProgressError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=deliver, args=(w,)) for w in workers]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join()

    assert "handled" in outcomes
    [duplicate] = [o for o in outcomes if o != "handled"]
    assert isinstance(duplicate, IdempotencyAlreadyInProgressError)  # raised: SQS delivers it again
    workers[1].handle_record(job.to_message(), 2)  # the redelivery, after the first finished
    assert len(harness.slack.messages(job=job.job_id)) == 1  # one answer for one job


def test_a_failed_reply_is_retried_without_running_the_operation_again(harness):
    job = harness.job("/ops-restart checkout")
    worker = harness.dispatcher(slack_max_retries=0)
    harness.slack.inject_fault("response_url", 500, times=1)
    harness.slack.inject_fault("chat.postMessage", 500, times=1)

    with pytest.raises(SlackDeliveryError):
        worker.handle_record(job.to_message(), 1)
    deployment = harness.primary_deployment("checkout")
    harness.run(job, worker)

    assert harness.primary_deployment("checkout") == deployment
    [text] = final_texts(harness, job)
    assert deployment in text and "Restart of `checkout` completed" in text


def test_a_conflicting_restart_is_refused_with_who_holds_the_target(harness):
    running = harness.job("/ops-restart payment")
    conflicting = harness.job("/ops-restart payment")
    worker = harness.dispatcher()
    before = harness.primary_deployment("payment")

    with worker.leases.hold("payment", running):  # another worker is restarting payment
        worker.handle_record(conflicting.to_message(), 1)

    assert harness.primary_deployment("payment") == before
    [message] = harness.slack.messages(job=conflicting.job_id)
    assert "`payment` is busy: `/ops-restart payment` by <@U0ALICE> since" in message.text
    assert f"(job `{running.short_id}`)" in message.text
    assert f"job `{conflicting.short_id}` was not run" in json.dumps(message.payload["blocks"])


def test_two_workers_taking_one_lease_at_once_only_one_wins(harness):
    from worker_function.errors import TargetBusyError

    jobs = [harness.job("/ops-restart checkout") for _ in range(8)]
    stores = [harness.dispatcher().leases for _ in jobs]
    won, lost = [], []
    barrier = threading.Barrier(len(jobs))

    def take(store, job) -> None:
        barrier.wait()
        try:
            won.append(store.acquire("checkout", job))
        except TargetBusyError as exc:
            lost.append(exc.holder.owner_job)

    threads = [threading.Thread(target=take, args=pair) for pair in zip(stores, jobs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(won) == 1 and len(lost) == len(jobs) - 1
    assert set(lost) == {won[0].owner_job}
    stores[0].release(won[0])


def test_an_expired_lease_left_by_a_crash_does_not_block(harness):
    crashed = harness.job("/ops-restart payment")
    dispatcher = harness.dispatcher(lease_ttl_s=30)
    dispatcher.leases.acquire("payment", crashed)  # never released: the worker died
    later = harness.dispatcher(lease_ttl_s=30)
    later.leases._now = lambda: time.time() + 31  # the new worker's clock, 31 s on

    job = harness.job("/ops-restart payment")
    harness.run(job, later)

    [text] = final_texts(harness, job)
    assert "Restart of `payment` completed" in text


# A table the worker's role has no grant on: refused (AccessDenied) as AWS refuses it, which is the failure wanted.
@pytest.mark.iam_denials
def test_a_transient_failure_is_retried_then_reported_and_dead_lettered_on_the_last_receive(harness):
    job = harness.job("/deploy-status payment")
    worker = harness.dispatcher(idempotency_table="no-such-table")  # DynamoDB failing in the worker

    for attempt in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(IdempotencyPersistenceLayerError):
            worker.handle_record(job.to_message(), attempt)
        assert harness.slack.messages(job=job.job_id) == []
    worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)

    [text] = final_texts(harness, job)
    assert f"failed after {MAX_RECEIVE_COUNT} attempts" in text
    [dead] = harness.dead_letters()
    assert json.loads(dead["Body"])["job_id"] == job.job_id
    assert "Idempotency" in dead["MessageAttributes"]["opsbot_reason"]["StringValue"]
    assert dead["MessageAttributes"]["opsbot_attempts"]["StringValue"] == str(MAX_RECEIVE_COUNT)


def test_an_invocation_that_timed_out_leaves_inprogress_which_expires_with_it(harness):
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from infra.devstack.aws import aws_client
    from worker_function.pipeline import IDEMPOTENCY_KEY_JMESPATH, PAYLOAD_JMESPATH, request_digest

    job = harness.job("/ops-restart checkout")
    # What a worker killed by its timeout leaves behind: an INPROGRESS record expiring with its invocation.
    layer = DynamoDBPersistenceLayer(
        table_name=harness.tables.idempotency, boto3_client=aws_client("dynamodb", harness.moto.endpoint_url)
    )
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY_JMESPATH, payload_validation_jmespath=PAYLOAD_JMESPATH
    )
    layer.configure(config, key_prefix="opsbot#run")
    data = {"job_id": job.job_id, "step": 0, "payload": request_digest(job)}
    worker = harness.dispatcher()  # first: its role is provisioned before the record's 1.5 s start
    layer.save_inprogress(data=data, remaining_time_in_millis=1500)

    with pytest.raises(IdempotencyAlreadyInProgressError):
        worker.handle_record(job.to_message(), 1)  # still inside the dead invocation's time: comes back later
    time.sleep(2)
    harness.run(job, worker)

    [text] = final_texts(harness, job)
    assert "Restart of `checkout` completed" in text


def test_a_poison_message_goes_to_the_dlq_at_once_with_its_reason(harness):
    harness.dispatcher().handle_record("this is not json", 1)

    [dead] = harness.dead_letters()
    assert dead["Body"] == "this is not json"
    assert "not a v1 job envelope" in dead["MessageAttributes"]["opsbot_reason"]["StringValue"]


def test_an_unknown_schema_version_is_dead_lettered_and_the_requester_told(harness):
    job = harness.job("/ops-ping")
    body = json.loads(job.to_message())
    body["schema_version"] = 3

    harness.dispatcher().handle_record(json.dumps(body), 1)

    [text] = final_texts(harness, job)
    assert "could not be run" in text and "schema_version" in text
    assert len(harness.dead_letters()) == 1


def test_slack_429_with_retry_after_is_honoured(harness):
    job = harness.job("/ops-ping")
    harness.slack.inject_fault("response_url", 429, times=1, retry_after=1)
    started = time.monotonic()

    harness.dispatcher().handle_record(job.to_message(), 1)

    assert time.monotonic() - started >= 1.0
    assert [c.status for c in harness.slack.calls] == [429, 200]
    assert len(harness.slack.messages(key=job.job_id)) == 1


def test_a_response_url_answering_500_is_not_resent_by_the_sdk_and_the_retry_replaces_through_it(harness):
    """A 500 may follow a post Slack made: slack_sdk does not send it again, the delivery fails (SQS retries);
    the retry, answered 500 once more, fails too rather than post a copy in the channel that may be a second
    answer; the next one replaces through the response_url: one answer."""
    job = harness.job("/ops-ping")
    harness.slack.inject_fault("response_url", 500, times=2)
    worker = harness.dispatcher(slack_max_retries=2)

    for attempt in (1, 2):
        with pytest.raises(SlackDeliveryError):
            worker.handle_record(job.to_message(), attempt)
    worker.handle_record(job.to_message(), 3)

    assert [c.status for c in harness.slack.calls if c.path.startswith("/response/")] == [500, 500, 200]
    assert not [c for c in harness.slack.calls if c.path == "/api/chat.postMessage"]
    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "response_url" and "pong" in message.text


def test_an_expired_response_url_falls_back_to_chat_post_message(harness):
    job = harness.job("/ops-ping", issued_at=minutes_ago(31))

    harness.dispatcher().handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "chat.postMessage" and "pong" in message.text
    assert not any(c.path.startswith("/response/") for c in harness.slack.calls)


def test_a_response_url_slack_says_is_used_up_falls_back_to_chat_post_message(harness):
    job = harness.job("/ops-ping")
    harness.slack.inject_fault("response_url", 404, times=1)

    harness.dispatcher().handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "chat.postMessage"


def test_a_bot_that_is_not_in_the_channel_sends_a_direct_message(harness):
    job = harness.job("/ops-ping", response_url=None)
    harness.slack.inject_fault("chat.postMessage", 200, times=1, body='{"ok": false, "error": "not_in_channel"}')

    harness.dispatcher().handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "chat.postMessage" and message.channel != "C0OPS" and "pong" in message.text


def test_a_response_url_off_slacks_hosts_is_never_posted_to(harness):
    job = harness.job("/ops-ping", response_url="https://evil.example/collect")

    harness.dispatcher(local_mode=False).handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(job=job.job_id)
    assert message.kind == "chat.postMessage"


def test_a_permanent_failure_is_logged_as_one_execution_with_its_outcome(harness, caplog):
    job = harness.job("/deploy-status nosuch")

    with caplog.at_level("INFO", logger="worker_function"):
        harness.dispatcher().handle_record(job.to_message(), 1)

    executed = [r for r in caplog.records if r.getMessage().startswith("executed") and r.job_id == job.job_id]
    assert len(executed) == 1
    assert "nosuch" in executed[0].getMessage()


def test_a_job_id_arriving_with_another_requests_payload_is_refused_told_and_dead_lettered(harness):
    job = harness.job("/ops-ping")
    worker = harness.dispatcher()
    worker.handle_record(job.to_message(), 1)
    forged = job.changed(text="5", args={"kind": "ping", "work_seconds": 5})  # same job id, another request

    worker.handle_record(forged.to_message(), 1)

    texts = [m.text for m in harness.slack.messages(job=job.job_id)]
    assert len(texts) == 2 and "pong" in texts[0]
    assert "could not be run" in texts[1] and "belongs to a different request" in texts[1]
    [dead] = harness.dead_letters()
    assert json.loads(dead["Body"])["text"] == "5"


def test_a_notice_for_the_requester_alone_is_ephemeral_in_their_thread_and_sent_once(harness):
    from shared.commands import NoticeArgs

    job = harness.job("/ops-ping", response_url=None)
    requester = job.requester.model_copy(update={"thread_ts": "1700000000.000100"})
    notice = job.changed(
        args=NoticeArgs(text="opsbot accepts commands from members of this workspace only.", only_to_requester=True),
        requester=requester,
    )

    harness.run(notice)
    harness.run(notice)  # a redelivery after it was answered: nothing more

    sent = harness.slack.messages(channel=job.requester.channel_id)
    assert [m.kind for m in sent] == ["chat.postEphemeral"]
    [told] = sent
    assert told.payload["user"] == job.requester.user_id and told.payload["thread_ts"] == "1700000000.000100"
    assert "members of this workspace" in told.payload["text"]


def test_a_job_given_up_while_its_next_step_may_be_queued_ends_once(harness, monkeypatch):
    """Its next step's SendMessage reaches SQS but the answer is lost (`maybe_queued`), on every receive: the job
    is given up on the last one ("failed after"), and the copies of its next step SQS took after all stop quietly
    when they arrive: the requester reads one ending, not "failed" and then "completed"."""
    job = harness.job("/ops-restart payment")
    worker = harness.dispatcher()
    assert worker.queue is not None
    sent = worker.queue.send

    def answer_lost(queued: JobEnvelope, *, delay_seconds: int = 0) -> str:
        if queued.continuation is not None:
            sent(queued, delay_seconds=delay_seconds)  # SQS took it
        raise EnqueueError("ConnectionClosedError: the connection closed before the answer", maybe_queued=True)

    monkeypatch.setattr(worker.queue, "send", answer_lost)
    for attempt in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(EnqueueError):
            worker.handle_record(job.to_message(), attempt)
    worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)  # given up and dead-lettered
    monkeypatch.undo()
    assert len(harness.dead_letters()) == 1

    copies = harness.queued()
    assert len(copies) == MAX_RECEIVE_COUNT and {harness.steps_of(m) for m in copies} == {1}
    later = harness.dispatcher()
    for message in copies:
        harness.clock.advance(harness.poll_s)
        later.handle_record(message["Body"], 1)
        harness.delete(message)

    [text] = final_texts(harness, job)
    assert f"failed after {MAX_RECEIVE_COUNT} attempts" in text
    assert harness.queued() == []  # the copies queued nothing further
    assert later.leases.holder("payment") is None


def test_a_job_whose_worker_dies_on_its_last_receive_is_taken_over_by_its_successor(harness, monkeypatch):
    """Seeds 71 and 130 of the chaos campaign: a confirmed `/ops-scale` failed twice and its worker was killed on the
    third (last) receive: no code ran to tell anyone, SQS dead-lettered it, its requester never heard. The last
    receive now puts a successor on the queue before it runs: the successor takes the job over, one answer."""
    job = harness.job("/ops-restart checkout")
    worker = harness.dispatcher()

    def killed(_: JobEnvelope) -> None:
        raise WorkerKilled("the Lambda timed out")

    monkeypatch.setattr(worker.executor, "walk", killed)
    with pytest.raises(WorkerKilled):
        worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()

    [successor] = harness.queued()  # before: none, the job was lost with its Lambda
    harness.delete(successor)
    assert JobEnvelope.from_message(successor["Body"]).requeued == 1
    harness.run(JobEnvelope.from_message(successor["Body"]), harness.dispatcher())

    [text] = final_texts(harness, job)
    assert "Restart of `checkout` completed" in text


def _given_up_on_its_last_receive(harness, monkeypatch, job: JobEnvelope) -> dict[str, object]:
    """The job's last receive fails for good (a bug in its operation): told, dead-lettered, and the successor that
    receive queued first taken off the queue for the test to deliver."""
    worker = harness.dispatcher()

    def broken(_: JobEnvelope) -> None:
        raise RuntimeError("a bug in the operation")

    monkeypatch.setattr(worker.executor, "walk", broken)
    worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()
    assert len(harness.dead_letters()) == 1
    [successor] = harness.queued()
    harness.delete(successor)
    return successor


def test_a_successor_of_a_job_given_up_on_its_last_receive_stops_quietly(harness, monkeypatch):
    """The last receive fails for good: the requester is told "failed after 3 attempts" and the job dead-lettered;
    the successor queued before that receive ran finds the job given up at its step and tells nothing. The very
    copy given up, redriven from the DLQ by an operator, still runs its step."""
    job = harness.job("/ops-restart checkout")
    successor = _given_up_on_its_last_receive(harness, monkeypatch, job)
    deployment = harness.primary_deployment("checkout")
    harness.dispatcher().handle_record(successor["Body"], 1)

    [text] = final_texts(harness, job)
    assert f"failed after {MAX_RECEIVE_COUNT} attempts" in text
    assert harness.queued() == [] and harness.primary_deployment("checkout") == deployment  # nothing ran
    harness.dispatcher().handle_record(job.to_message(), 1)  # the redrive of the copy given up runs its step
    assert harness.primary_deployment("checkout") != deployment


@pytest.mark.parametrize("line", ["/ops-lock checkout chaos drill", "/ops-ping"])
def test_a_job_not_tracked_whose_worker_dies_on_its_last_receive_is_taken_over_by_its_successor(
    harness, monkeypatch, line
):
    """Seeds 189 and 324 of the chaos campaign: an `/ops-lock` (a control job, not in the registry) failed twice and
    its worker was killed on the third (last) receive: SQS dead-lettered it and its requester never heard. Every
    job's last receive, tracked or not, now puts a successor on the queue first."""
    job = harness.job(line)
    worker = harness.dispatcher()

    def killed(_: JobEnvelope) -> None:
        raise WorkerKilled("the Lambda timed out")

    monkeypatch.setattr(worker.executor, "walk", killed)
    with pytest.raises(WorkerKilled):
        worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()

    [successor] = harness.queued()  # before: none, the job was lost with its Lambda
    harness.delete(successor)
    assert JobEnvelope.from_message(successor["Body"]).successor
    harness.dispatcher().handle_record(successor["Body"], 1)

    [text] = final_texts(harness, job)
    assert ("is locked by" if "lock" in line else "pong") in text


def test_the_next_step_of_a_job_its_successor_ran_is_a_copy_of_its_own(harness):
    """A successor that runs a step queues the next one as a new copy: its own receives, re-queues and successor
    (a successor's copy queues no successor, so a Lambda dying on that step's last receive would lose the job)."""
    job = harness.job("/ops-restart checkout")
    harness.dispatcher().handle_record(job.changed(requeued=1, successor=True).to_message(), 1)

    [queued] = harness.queued()
    step = JobEnvelope.from_message(queued["Body"])
    assert step.step == 1
    assert (step.successor, step.requeued) == (False, 0)


def test_a_successor_of_a_job_not_tracked_given_up_on_its_last_receive_stops_quietly(harness, monkeypatch):
    """The successor of a job the registry does not track finds the mark its give-up left and tells nothing more:
    one ending ("failed after 3 attempts"), no lock taken after it."""
    job = harness.job("/ops-lock checkout chaos drill")
    successor = _given_up_on_its_last_receive(harness, monkeypatch, job)
    harness.dispatcher().handle_record(successor["Body"], 1)

    [text] = final_texts(harness, job)
    assert f"failed after {MAX_RECEIVE_COUNT} attempts" in text
    assert harness.queued() == []
    assert not [m for m in harness.slack.messages(job=job.job_id) if "is locked by" in m.text]


def run_copies(harness, pending: list[dict[str, object]]) -> None:
    """Deliver `pending` (copies of a job, received), then the steps they queue, until the queue is empty."""
    later = harness.dispatcher()
    for _ in range(50):
        if not pending:
            return
        for message in pending:
            harness.delete(message)
            harness.clock.advance(harness.poll_s)
            later.handle_record(str(message["Body"]), 1)
        pending = harness.queued()
    raise AssertionError("the copies are still queueing steps")


def registry_down(*_: object, **__: object) -> None:
    raise ConnectionError("DynamoDB does not answer")


def test_a_job_given_up_while_a_copy_may_be_queued_and_the_registry_is_down_leaves_the_job_to_the_copy(
    harness, monkeypatch
):
    """Chaos seed 544: on a restart's last receive SQS took its successor and its re-queue but answered 503 (so
    the worker took them as not queued), its step failed on DynamoDB, and the registry could not be written: the
    requester was told "failed after 3 attempts", the give-up's mark that stops copies was never written, and a
    copy SQS held ran the restart: "completed" after "failed". A copy that may be on the queue is now stopped by
    the mark, written first; when it cannot be, the copy takes the job over and this attempt tells nothing (it fails
    as a killed attempt would: SQS's redrive dead-letters it)."""
    job = harness.job("/ops-restart payment")
    worker = harness.dispatcher()
    assert worker.queue is not None
    sent = worker.queue.send

    def answer_lost(queued: JobEnvelope, *, delay_seconds: int = 0) -> str:
        sent(queued, delay_seconds=0)  # SQS took it (due at once here: the clock is moved by hand)
        raise EnqueueError("ClientError: ServiceUnavailableException (503)", maybe_queued=True)

    monkeypatch.setattr(worker.queue, "send", answer_lost)
    monkeypatch.setattr(worker.executor, "walk", registry_down)
    monkeypatch.setattr(worker.ctx.jobs, "end", registry_down)
    with pytest.raises(ConnectionError):  # as a killed attempt: SQS's redrive moves this copy to the DLQ
        worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()

    assert final_texts(harness, job) == []  # before: "failed after 3 attempts", then the copy's "completed"
    copies = harness.queued()
    assert len(copies) == 2  # the successor and the re-queue, both taken by SQS
    run_copies(harness, copies)
    [text] = final_texts(harness, job)
    assert "Restart of `payment` completed" in text


def test_a_job_failing_for_good_on_its_last_receive_with_the_registry_down_leaves_the_job_to_its_successor(
    harness, monkeypatch
):
    """Chaos seed 534's shape: the last receive queued its successor, then failed for good while the registry could
    not be written: told "failed after 3 attempts", the successor (not stopped: no mark) ran the job to
    "completed". The give-up now writes its mark before telling; unwritten, the successor takes the job over."""
    job = harness.job("/ops-restart payment")
    worker = harness.dispatcher()

    def broken(_: JobEnvelope) -> None:
        raise RuntimeError("a bug in the operation")

    monkeypatch.setattr(worker.executor, "walk", broken)
    monkeypatch.setattr(worker.ctx.jobs, "end", registry_down)
    with pytest.raises(RuntimeError):  # as a killed attempt: SQS's redrive moves this copy to the DLQ
        worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()

    assert final_texts(harness, job) == []  # before: "failed after 3 attempts", then the successor's "completed"
    run_copies(harness, harness.queued())
    [text] = final_texts(harness, job)
    assert "Restart of `payment` completed" in text


def test_a_prompt_expiry_given_up_while_its_wait_may_be_queued_ends_once(harness, monkeypatch):
    """A confirmation prompt's expiry waits for its time by queueing its next step; SQS takes it but the answer
    is lost on every receive: the expiry is given up ("failed after"), and its prompt decided, so the copy SQS
    took after all finds it decided when it comes due and tells nothing ("expired" would be a second ending)."""
    prompt = harness.job("/ops-scale payment 3", confirmed=False)
    expiry = settlement(prompt, "expired", target=audit_target(prompt))
    worker = harness.dispatcher()
    assert worker.queue is not None
    sent = worker.queue.send

    def answer_lost(queued: JobEnvelope, *, delay_seconds: int = 0) -> str:
        if queued.continuation is not None:
            sent(queued, delay_seconds=0)  # SQS took it (due at once here: the clock is moved by hand)
        raise EnqueueError("ConnectionClosedError: the connection closed before the answer", maybe_queued=True)

    monkeypatch.setattr(worker.queue, "send", answer_lost)
    for attempt in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(EnqueueError):
            worker.handle_record(expiry.to_message(), attempt)
    worker.handle_record(expiry.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()

    harness.clock.advance(CONFIRM_TTL_S + 60)
    copies = harness.queued()
    assert copies
    later = harness.dispatcher()
    for message in copies:
        later.handle_record(message["Body"], 1)
        harness.delete(message)

    told = [m.text for key in (prompt.job_id, expiry.job_id) for m in harness.slack.messages(job=key) if m.final]
    [text] = told  # the requester's one ending
    assert f"failed after {MAX_RECEIVE_COUNT} attempts" in text
    assert harness.queued() == []


def test_a_prompt_expiry_given_up_after_its_prompt_was_confirmed_says_nothing(harness, monkeypatch):
    """Chaos seed 2030: `/ops-scale payment 3` was confirmed, ran and told "completed"; its prompt's expiry, still
    waiting for its time, could not confirm its next wait as queued (SendMessage's connection closed, three times)
    and was given up, telling the requester "failed after 3 attempts" ten minutes after "completed". A prompt
    decided otherwise makes the expiry's give-up moot: nothing told, nothing dead-lettered."""
    prompt = harness.job("/ops-scale payment 3", confirmed=False)
    expiry = settlement(prompt, "expired", target=audit_target(prompt))
    worker = harness.dispatcher()
    assert worker.ctx.decisions.claim(prompt.job_id, "confirmed", "U0ALICE").won  # the requester's Confirm
    assert worker.queue is not None

    def answer_lost(queued: JobEnvelope, *, delay_seconds: int = 0) -> str:
        raise EnqueueError("ConnectionClosedError: the connection closed before the answer", maybe_queued=True)

    monkeypatch.setattr(worker.queue, "send", answer_lost)
    for attempt in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(EnqueueError):
            worker.handle_record(expiry.to_message(), attempt)
    worker.handle_record(expiry.to_message(), MAX_RECEIVE_COUNT)
    monkeypatch.undo()

    told = [m.text for key in (prompt.job_id, expiry.job_id) for m in harness.slack.messages(job=key) if m.final]
    assert told == []  # before: ":x: `/ops-scale payment 3` failed after 3 attempts"
    assert harness.dead_letters() == []


def test_a_job_given_up_after_its_progress_used_the_response_url_up_is_told_in_the_channel(harness, monkeypatch):
    """Chaos seed 41: a regression's progress messages and their retries spent the response_url's five uses; its
    give-up on the last receive ("failed after 3 attempts", a message no attempt had sent) met `used_url` and was
    taken as delivered: its requester was never told. A new last word goes to the channel instead."""
    job = harness.job("/ops-restart checkout")
    worker = harness.dispatcher()
    harness.slack.inject_fault("response_url", 404, body="used_url", times=10)

    def broken(_: JobEnvelope) -> None:
        raise RuntimeError("a bug in the operation")

    monkeypatch.setattr(worker.executor, "walk", broken)
    worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)

    [message] = [m for m in harness.slack.messages(job=job.job_id) if m.final]
    assert message.kind == "chat.postMessage" and f"failed after {MAX_RECEIVE_COUNT} attempts" in message.text
