"""`opsbot dlq list|redrive` against moto: the reason, the attempts, and sending jobs back."""

from __future__ import annotations

import pytest

from infra.cli.dlq import format_table, list_dead_jobs, redrive
from infra.devstack.aws import aws_client
from shared.jobs import JobEnvelope
from shared.settings import MAX_RECEIVE_COUNT


# A table outside the worker's grant: refused (AccessDenied), the failure this test needs.
@pytest.mark.iam_denials
def test_dead_jobs_show_job_requester_reason_and_attempts_and_stay_in_the_dlq(harness):
    job = harness.job("/deploy-status payment")
    worker = harness.dispatcher(idempotency_table="no-such-table")
    worker.handle_record(job.to_message(), MAX_RECEIVE_COUNT)  # last attempt: dead-lettered with its reason
    harness.dispatcher().handle_record("garbage", 1)  # poison
    sqs = aws_client("sqs", harness.moto.endpoint_url)

    dead = {d.job_id: d for d in list_dead_jobs(sqs, harness.queues.dlq_url)}

    assert dead[job.job_id].command == "/deploy-status payment"
    assert dead[job.job_id].requester == "U0ALICE"
    assert dead[job.job_id].attempts == MAX_RECEIVE_COUNT
    assert "Idempotency" in dead[job.job_id].reason
    assert "not a v1 job envelope" in dead["?"].reason
    assert job.job_id[:8] in format_table(list(dead.values()))
    assert len(list_dead_jobs(sqs, harness.queues.dlq_url)) == 2  # listing does not consume


# A table outside the worker's grant: refused (AccessDenied), the failure this test needs.
@pytest.mark.iam_denials
def test_redrive_sends_one_job_back_and_it_runs(harness):
    job = harness.job("/ops-ping")
    harness.dispatcher(idempotency_table="no-such-table").handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    harness.dispatcher().handle_record("garbage", 1)
    sqs = aws_client("sqs", harness.moto.endpoint_url)

    [moved] = redrive(sqs, harness.queues.dlq_url, harness.queues.queue_url, job_id=job.short_id)

    assert moved.job_id == job.job_id
    # On the queue: the job sent back, and the successor its last receive queued (which its give-up stops).
    queued = sqs.receive_message(QueueUrl=harness.queues.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    envelopes = {JobEnvelope.from_message(m["Body"]).successor: m["Body"] for m in queued["Messages"]}
    assert JobEnvelope.from_message(envelopes[False]) == job
    if True in envelopes:
        told = len(harness.slack.messages(job=job.job_id))  # the give-up's "failed"
        harness.dispatcher().handle_record(envelopes[True], 1)
        assert len(harness.slack.messages(job=job.job_id)) == told  # the give-up covers it: nothing more said
    harness.dispatcher().handle_record(envelopes[False], 1)
    assert any("pong" in m.text for m in harness.slack.messages(job=job.job_id))
    [left] = list_dead_jobs(sqs, harness.queues.dlq_url)  # the poison message stays
    assert left.job_id == "?" and "not a v1 job envelope" in left.reason


def _state_file(harness, tmp_path):
    from infra.devstack.state import StackState, write_state

    path = tmp_path / "local-1.json"
    write_state(
        path,
        StackState(
            ingress_url="http://127.0.0.1:1",
            events_url="http://127.0.0.1:1/slack/events",
            slack_url="http://127.0.0.1:2",
            signing_secret="s",
            queue_url=harness.queues.queue_url,
            dlq_url=harness.queues.dlq_url,
            endpoint_url=harness.moto.endpoint_url,
            region="us-east-1",
            pid=0,
        ),
    )
    return str(path)


# Jobs dead-lettered by a table outside the worker's grant: refused (AccessDenied), the failure wanted here.
@pytest.mark.iam_denials
def test_dlq_list_job_shows_that_job_only_and_exits_1_when_none_matches(harness, tmp_path, capsys):
    from infra.cli.main import EXIT_FAILED, EXIT_OK, main

    kept, other = harness.job("/ops-ping"), harness.job("/deploy-status payment")
    for job in (kept, other):
        harness.dispatcher(idempotency_table="no-such-table").handle_record(job.to_message(), MAX_RECEIVE_COUNT)
    harness.dispatcher().handle_record("garbage", 1)
    state = _state_file(harness, tmp_path)
    capsys.readouterr()  # the worker's metrics

    assert main(["dlq", "list", "--job", kept.short_id, "--json", "--state", state]) == EXIT_OK
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and kept.job_id in listed[0]

    assert main(["dlq", "list", "--job", "7f3a2b1c", "--state", state]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no job 7f3a2b1c in the dead-letter queue" in captured.err
    assert kept.short_id in captured.err and other.short_id in captured.err


def test_redrive_of_a_job_not_there_names_what_is_there_even_a_message_that_is_no_job(harness, tmp_path, capsys):
    from infra.cli.main import EXIT_FAILED, main

    harness.dispatcher().handle_record("garbage", 1)
    state = _state_file(harness, tmp_path)
    capsys.readouterr()

    assert main(["dlq", "redrive", "--job", "7f3a2b1c", "--state", state]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "?" not in err
    assert "it holds message " in err and "(not a job;" in err
