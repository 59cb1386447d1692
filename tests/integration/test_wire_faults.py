"""Faults on the wire (the fault proxy between the worker and moto, Slack, CodeBuild, Jenkins): below the SDKs'
own retries, a lost answer is what the network makes of it, and the SDK's resend would reach the target.

Each test drives its job as the SQS event source does (moto's queue: visibility, receive counts, DelaySeconds,
the redrive to the DLQ) and counts at the target what the proxy forwarded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from infra.devstack.aws import aws_client
from infra.devstack.fault_proxy import FaultProxy, Rule
from opsbot_testkit.faults import visible_final_messages
from opsbot_testkit.harness import Harness
from shared.confirm import APPROVAL_TTL_S
from shared.jobs import JobEnvelope
from tests.integration.test_approval import Flow
from worker_function.store.jobs import DynamoJobs

pytestmark = pytest.mark.integration


class ShortContext:
    """An invocation that may run `seconds` more: its run-once records expire with it."""

    def __init__(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._until - time.monotonic()) * 1000), 1)


@pytest.fixture
def wired(harness: Harness) -> Iterator[Harness]:
    proxy = FaultProxy()
    harness.wired(proxy)
    try:
        yield harness
    finally:
        proxy.close()


def _payment_as_provisioned(h: Harness) -> None:
    ecs = aws_client("ecs", h.moto.endpoint_url)
    ecs.update_service(cluster=h.cluster, service="payment", taskDefinition="payment:2", desiredCount=2)


def drive(h: Harness, job: JobEnvelope, *, invocation_s: float = 3.0, limit_s: float = 240.0) -> int:
    """Send the job and play Lambda's SQS event source until the queue is empty: a new invocation per batch
    (its deadline `invocation_s`), delete on success, redelivery after the visibility timeout on failure,
    DelaySeconds honoured. Returns the deliveries made."""
    sqs = aws_client("sqs", h.moto.endpoint_url)
    sqs.send_message(QueueUrl=h.queues.queue_url, MessageBody=job.to_message())
    deliveries, deadline, idle = 0, time.monotonic() + limit_s, 0
    while time.monotonic() < deadline:
        received = sqs.receive_message(
            QueueUrl=h.queues.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            attributes = sqs.get_queue_attributes(QueueUrl=h.queues.queue_url, AttributeNames=["All"])["Attributes"]
            pending = sum(
                int(attributes.get(name, 0))
                for name in (
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                )
            )
            idle = 0 if pending else idle + 1
            if idle >= 2:
                return deliveries
            continue
        [message] = received
        deliveries += 1
        h.clock.advance(1)
        worker = h.dispatcher(context=ShortContext(invocation_s), poll_interval_s=1, max_delay_s=900)
        try:
            worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
        except Exception:
            continue  # not deleted: SQS delivers it again after the visibility timeout (1 s)
        sqs.delete_message(QueueUrl=h.queues.queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"{job.display}: the queue was not empty after {limit_s} s ({deliveries} deliveries)")


def finals(h: Harness, job: JobEnvelope) -> tuple[int, str]:
    records = h.slack.messages(job=job.job_id)
    return visible_final_messages(records), "\n".join(r.text for r in records if r.final)


def lease_free(h: Harness, target: str) -> bool:
    dynamodb = aws_client("dynamodb", h.moto.endpoint_url)
    item = dynamodb.get_item(TableName=h.tables.leases, Key={"target": {"S": target}}, ConsistentRead=True)
    return "Item" not in item


def running_jobs(h: Harness) -> list[str]:
    jobs = DynamoJobs(h.tables.leases, client=aws_client("dynamodb", h.moto.endpoint_url))
    return [record.job_id for record in jobs.active()]


# -- side effects: one attempt by the SDK, the door retries ---------------------------------------------------

LOST_ANSWERS = ["error", "reset", "timeout"]


@pytest.mark.parametrize("mode", LOST_ANSWERS)
def test_a_lost_answer_to_update_service_makes_one_deployment(wired, mode):
    """UpdateService(forceNewDeployment) acts, its answer is lost: botocore must not send it again."""
    h = wired
    assert h.wire is not None
    h.wire.proxy.add(Rule(mode, service="ecs", action="UpdateService", nth=1))
    job = h.job("/ops-restart payment")

    drive(h, job)

    sent = h.wire.proxy.seen("UpdateService", needle='"forceNewDeployment": true')
    assert len(sent) == 1, [(c.attempt, c.fault) for c in sent]
    count, text = finals(h, job)
    assert count == 1 and "completed" in text.lower(), text
    assert lease_free(h, "payment")


@pytest.mark.parametrize(
    ("line", "action", "needle", "prepare"),
    [
        ("/ops-rollback payment", "UpdateService", '"taskDefinition"', _payment_as_provisioned),
        ("/ops-scale payment 3", "UpdateService", '"desiredCount"', _payment_as_provisioned),
        ("/ops-restart bastion", "RebootInstances", "", None),
    ],
    ids=["rollback", "scale", "reboot"],
)
def test_a_reset_after_the_call_sends_rollback_scale_and_reboot_once(wired, line, action, needle, prepare):
    h = wired
    assert h.wire is not None
    if prepare is not None:
        prepare(h)
    h.wire.proxy.add(Rule("reset", action=action, nth=1))
    job = h.job(line)
    try:
        drive(h, job)
    finally:
        if prepare is not None:
            prepare(h)
    assert len(h.wire.proxy.seen(action, needle=needle)) == 1
    count, text = finals(h, job)
    assert count == 1, text


# -- the run-once record: never dropped as "a copy is running" unless one is ------------------------------------


def test_a_lost_answer_to_the_first_run_once_write_still_runs_the_job_and_answers(wired):
    """DynamoDB takes the job's run-once record and the answer is lost: botocore's resend finds the record "in
    progress", as do the next deliveries. The job runs once its holder's deadline passed, and answers once."""
    h = wired
    assert h.wire is not None
    h.wire.proxy.add(Rule("reset", service="dynamodb", action="PutItem", body=h.tables.idempotency, nth=1))
    job = h.job("/ops-ping")

    drive(h, job)

    count, text = finals(h, job)
    assert count == 1 and "pong" in text.lower(), text
    assert h.dead_letters() == []


@pytest.mark.timeout(300)
def test_rollback_with_dynamodb_down_8s_after_its_call_rolls_back_once_and_the_requester_hears(wired):
    h = wired
    assert h.wire is not None
    _payment_as_provisioned(h)
    h.wire.proxy.add(Rule("refuse", service="dynamodb", for_s=8, trigger="ecs.UpdateService"))
    job = h.job("/ops-rollback payment")
    try:
        drive(h, job)
    finally:
        _payment_as_provisioned(h)
    assert len(h.wire.proxy.seen("UpdateService", needle='"taskDefinition"')) == 1
    count, text = finals(h, job)
    assert count == 1 and "failed" not in text.lower(), text
    assert job.job_id not in running_jobs(h)  # no phantom in /ops-jobs
    assert lease_free(h, "payment")


@pytest.mark.timeout(400)
def test_scale_with_dynamodb_down_40s_after_its_call_scales_once_and_says_completed(wired):
    h = wired
    assert h.wire is not None
    _payment_as_provisioned(h)
    h.wire.proxy.add(Rule("refuse", service="dynamodb", for_s=40, trigger="ecs.UpdateService"))
    job = h.job("/ops-scale payment 3")
    try:
        drive(h, job, limit_s=360)
    finally:
        _payment_as_provisioned(h)
    assert len(h.wire.proxy.seen("UpdateService", needle='"desiredCount"')) == 1
    count, text = finals(h, job)
    assert count == 1 and "failed after" not in text.lower(), text
    assert lease_free(h, "payment")


def test_a_job_given_up_after_its_side_effect_tells_its_requester_what_it_may_have_done(wired):
    """DynamoDB refuses every write after UpdateService (a 400: no retry helps): on the last receive the job is
    dead-lettered, and the requester reads that the restart was made or may have been (its intent)."""
    h = wired
    assert h.wire is not None
    h.wire.proxy.add(Rule("error", service="dynamodb", action="write", status=400, trigger="ecs.UpdateService"))
    job = h.job("/ops-restart payment")

    drive(h, job)

    count, text = finals(h, job)
    assert count == 1 and "failed after 3 attempts" in text, text
    assert "may have made: restart payment" in text, text
    assert len(h.wire.proxy.seen("UpdateService")) == 1
    assert len(h.dead_letters()) == 1


def test_a_lost_answer_to_an_intent_write_is_not_taken_for_an_earlier_attempt(wired):
    """The reboot's intent is written, its answer lost, botocore writes it again and finds it: that is this
    attempt's own intent (nothing was called yet), so the reboot is made, not skipped as "maybe made"."""
    h = wired
    assert h.wire is not None
    h.wire.proxy.add(Rule("reset", service="dynamodb", action="PutItem", body="ec2-reboot", nth=1))
    job = h.job("/ops-restart bastion")

    drive(h, job)

    assert len(h.wire.proxy.seen("RebootInstances")) == 1
    count, text = finals(h, job)
    assert count == 1 and "cannot tell" not in text, text


def test_a_reboot_answered_503_before_ec2_is_not_told_completed(wired):
    """RebootInstances answered 503 without reaching EC2: a 5xx may have been made, so the retry keeps the intent
    and does not reboot (at most once). The last word must not say the reboot completed: nothing shows it was
    made, so the requester reads that it was not confirmed, and why."""
    h = wired
    assert h.wire is not None
    h.wire.proxy.add(Rule("error", service="ec2", action="RebootInstances", when="before", nth=1))
    job = h.job("/ops-restart bastion")

    drive(h, job)

    assert len(h.wire.proxy.seen("RebootInstances", forwarded=False)) == 1  # the faulted one, not sent again
    assert h.wire.proxy.seen("RebootInstances") == []  # EC2 never received a reboot
    count, text = finals(h, job)
    assert count == 1, text
    assert "completed" not in text.lower() and ":white_check_mark:" not in text, text
    assert "not confirmed" in text and "could not tell whether the reboot was sent" in text, text


# -- the answer: one final message, whatever Slack's response_url answers --------------------------------------


@pytest.mark.parametrize("line", ["/ops-ping", "/ops-freeze staging chaos drill"])
def test_a_final_answer_slack_took_but_answered_503_is_replaced_through_the_response_url_not_posted_again(wired, line):
    """Seeds 41 and 45 of the chaos campaign: the response_url took the final answer and answered 503 on two
    attempts; the second fell back to chat.postMessage, and the requester saw the answer twice (the channel copy
    beside the response_url's). A retry now replaces its copy through the response_url and posts nothing else."""
    wired.wire.proxy.add(Rule("error", service="slack", action="POST /response/*", when="after", times=2))
    job = wired.job(line)

    drive(wired, job)

    count, text = finals(wired, job)
    assert count == 1, text
    assert not [c for c in wired.slack.calls if c.path == "/api/chat.postMessage"]
    responses = wired.wire.proxy.seen("POST /response/*", service="slack")
    assert len(responses) == 3 and [c.status for c in responses][:2] == [503, 503]


def test_a_final_whose_earlier_sends_slack_took_but_answered_503_until_the_uses_ran_out_is_not_posted_again(wired):
    """Chaos seed 145: a final went through the response_url, Slack took it and answered 503 until its 5 uses were
    spent; the retry, told `used_url`, posted it in the channel too (two finals). Every send is counted before it is
    made (DynamoDB, under the worker's IAM): no other message used the url, so the final's own sends took the uses
    and it stands there; nothing is posted in the channel."""
    wired.wire.proxy.add(Rule("error", service="slack", action="POST /response/*", when="after", times=5))
    job = wired.job("/ops-ping")

    drive(wired, job)

    count, text = finals(wired, job)
    assert count == 1, text
    assert not [c for c in wired.slack.calls if c.path == "/api/chat.postMessage"]  # before: the second final
    responses = wired.wire.proxy.seen("POST /response/*", service="slack")
    assert [c.status for c in responses] == [503] * 5 + [404]  # the sixth: used_url


def test_an_approval_expiry_posted_an_hour_on_that_slack_took_but_answered_503_is_posted_once(wired):
    """Seeds 513 and 603 of the chaos campaign: an approval's expiry, an hour on (the response_url is past its 30
    minutes), went through chat.postMessage; Slack took it and answered 503; the retry posted it a second time
    (chat.postMessage has no client token). The retry now finds the first post by its mark (its metadata, in the
    channel's history) and posts nothing."""
    flow = Flow(wired)
    flow.command("/ops-migrate payment")
    flow.deliver()
    [timer] = flow.timers
    wired.wire.proxy.add(Rule("error", service="slack", action="chat.postMessage", when="after", times=1))
    wired.clock.advance(APPROVAL_TTL_S + 60)

    with pytest.raises(Exception):  # noqa: B017 - Slack's 503: SQS delivers it again
        flow.worker.handle_record(timer.to_message(), 1)
    flow.worker.handle_record(timer.to_message(), 2)

    told = [m for m in wired.slack.messages(channel="C0OPS") if m.kind == "chat.postMessage"]
    assert len(told) == 1 and "Your request to run `/ops-migrate payment` expired" in told[0].text
    # the approval request in the approvals channel, then the expiry's one post
    assert [c.status for c in wired.wire.proxy.seen("chat.postMessage", service="slack")] == [200, 503]
    assert len([c for c in wired.slack.calls if c.path == "/api/conversations.history"]) == 1


@pytest.mark.parametrize("line", ["/ops-ping", "/ops-freeze staging chaos drill"])
def test_a_final_past_the_response_urls_30_minutes_that_slack_took_but_answered_503_is_posted_once(wired, line):
    """A job's answer past its response_url's 30 minutes goes through chat.postMessage: Slack took it and answered
    503, and the retry finds it in the channel instead of posting it again."""
    wired.wire.proxy.add(Rule("error", service="slack", action="chat.postMessage", when="after", times=1))
    job = wired.job(line, issued_at=wired.clock.now() - timedelta(hours=1))

    drive(wired, job)

    count, text = finals(wired, job)
    assert count == 1, text
    assert len(wired.wire.proxy.seen("chat.postMessage", service="slack")) == 1


def test_an_approval_request_slack_took_but_answered_503_is_posted_once_and_its_buttons_work(wired):
    """The approval request in the approvals channel is a chat.postMessage too: Slack took it and answered 503; the
    retry finds it by its first block's id and records where it is instead of posting a second request."""
    flow = Flow(wired)
    flow.command("/ops-migrate payment")
    [request] = flow.queue.jobs
    flow.queue.jobs.clear()
    flow.requested.append(request.args)  # type: ignore[arg-type]
    wired.wire.proxy.add(Rule("error", service="slack", action="chat.postMessage", when="after", times=1))

    with pytest.raises(Exception):  # noqa: B017 - Slack's 503: SQS delivers it again
        flow.worker.handle_record(request.to_message(), 1)
    flow.worker.handle_record(request.to_message(), 2)

    flow.approval_message()  # exactly one request in the approvals channel (before: two)
    flow.click("opsbot_reject", flow.reject_token(), "U0DAN")
    flow.deliver()
    [update] = flow.approval_updates()  # the request found is the one the decision edits
    assert update.ts == flow.approval_message().ts
