"""Runbooks on Step Functions against moto's interpreter (in the moto server, execution enabled): /ops-run starts
one execution and follows it in one message, its waiting state asks a second person (Approve / Reject as the ack
queues them), --dry-run starts nothing, /ops-cancel stops it at the target. The worker runs under the IAM role the
CDK app synthesizes for the demo inventory (its Step Functions calls checked on their resources)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ack_function.step_clicks import accept_step_click
from infra.devstack.aws import aws_client
from infra.devstack.demo import demo_inventory_toml
from infra.devstack.fault_proxy import FaultProxy, Rule
from shared.commands import DryRunArgs
from shared.jobs import JobEnvelope
from shared.queue import SqsJobQueue
from shared.runbooks import EXPIRED_ERROR, STEP_APPROVE_ACTION, STEP_REJECT_ACTION, execution_arn, execution_name
from worker_function.clients import AWS_MAX_ATTEMPTS

#: Real seconds a run may take at most (moto's interpreter runs each state in real time: about 10 s quiet).
DEADLINE_S = 120.0


def _setup(harness: Any) -> tuple[Any, dict[str, str]]:
    arns = harness.provision_runbooks()  # each under the role the CDK app synthesizes for it
    return harness.dispatcher(runbook_arns=arns), arns


def _drive(harness: Any, worker: Any, until: Any) -> None:
    """Deliver whatever the queue holds (the job's steps, the waiting state's task message) until `until()`."""
    deadline = time.monotonic() + DEADLINE_S
    while not until():
        assert time.monotonic() < deadline, "the runbook did not get there in time"
        for message in harness.queued(wait=1):
            harness.clock.advance(harness.poll_s)
            worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
            harness.delete(message)


def _prompt(harness: Any) -> Any:
    found = [m for m in harness.slack.messages(channel="C0APPROVALS") if "waits at" in m.text]
    return found[-1] if found else None


def _click(harness: Any, action: str, user: str, prompt: Any) -> JobEnvelope | None:
    [button] = [
        e for b in prompt.payload["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action
    ]
    queue = SqsJobQueue(harness.queues.queue_url, client=aws_client("sqs", harness.moto.endpoint_url))
    return accept_step_click(
        action_id=action, value=button["value"], user_id=user, team_id="T0001", channel_id="C0APPROVALS", queue=queue
    )


def _execution(harness: Any, arns: dict[str, str], job: JobEnvelope) -> dict[str, Any]:
    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    return sfn.describe_execution(executionArn=execution_arn(arns["restart-safely"], execution_name(job.job_id)))


def _final(harness: Any, job: JobEnvelope) -> list[Any]:
    return [m for m in harness.slack.messages(job=job.job_id[:8]) if m.final]


def _desired(harness: Any) -> int:
    ecs = aws_client("ecs", harness.moto.endpoint_url)
    return int(ecs.describe_services(cluster=harness.cluster, services=["payment"])["services"][0]["desiredCount"])


def test_a_run_is_approved_by_a_second_person_and_ends_where_it_started(harness):
    worker, arns = _setup(harness)
    before = _desired(harness)
    job = harness.job("/ops-run restart-safely payment reason=incident-42")
    worker.handle_record(job.to_message(), 1)
    # The job's message: through its response_url, then in the channel once that URL's five uses are spent
    # (how many progress edits come first depends on how fast moto's interpreter walks the states).
    key, mine = job.response_url.rsplit("/", 1)[-1], job.job_id[:8]

    def waiting() -> bool:
        return any(
            "*Ask a second person* · waiting for a person" in str(m.payload)
            for m in harness.slack.messages(key=key, job=mine)
        )

    _drive(harness, worker, lambda: _prompt(harness) is not None and waiting())
    prompt = _prompt(harness)
    assert "Ask a second person" in prompt.text and "scale the service back" in prompt.text.lower()
    assert _desired(harness) == before + 1  # scaled up by one, waiting for the person
    shown = str(harness.slack.messages(key=key, job=mine)[-1].payload)
    assert (
        ":white_check_mark: Scale up by one" in shown and "Restart" in shown
    )  # the states so far, each with its status

    # The one who ran it cannot approve it; a second person can, once (a double click is one job).
    _click(harness, STEP_APPROVE_ACTION, "U0ALICE", prompt)
    _drive(harness, worker, lambda: any("second person approves" in m.text for m in harness.slack.messages()))
    assert _execution(harness, arns, job)["status"] == "RUNNING"
    first = _click(harness, STEP_APPROVE_ACTION, "U0DANA", prompt)
    again = _click(harness, STEP_APPROVE_ACTION, "U0DANA", prompt)
    assert first is not None and again is not None and first.job_id == again.job_id
    _drive(harness, worker, lambda: bool(_final(harness, job)))

    [final] = _final(harness, job)
    assert "succeeded" in final.text and "Runbook `restart-safely` on `payment`" in final.text
    assert _execution(harness, arns, job)["status"] == "SUCCEEDED"
    assert _desired(harness) == before  # scaled back
    assert any("Approved by <@U0DANA>" in m.text for m in harness.slack.messages(channel="C0APPROVALS"))
    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    mine = [
        e
        for e in sfn.list_executions(stateMachineArn=arns["restart-safely"])["executions"]
        if e["name"] == execution_name(job.job_id)
    ]
    assert len(mine) == 1


def test_a_rejected_step_fails_the_run_and_says_why(harness):
    worker, arns = _setup(harness)
    job = harness.job("/ops-run restart-safely payment")
    worker.handle_record(job.to_message(), 1)
    _drive(harness, worker, lambda: _prompt(harness) is not None)
    _click(harness, STEP_REJECT_ACTION, "U0DANA", _prompt(harness))
    _drive(harness, worker, lambda: bool(_final(harness, job)))
    [final] = _final(harness, job)
    assert "failed" in final.text and "opsbot.Rejected" in final.text
    assert _execution(harness, arns, job)["status"] == "FAILED"


def test_a_step_nobody_answers_in_time_fails_when_opsbot_expires_it_and_the_requester_is_told_once(harness):
    """Given a run waiting for a person, when the runbook's approval_minutes pass with no answer, then opsbot fails
    the waiting state (opsbot.Expired, with its cause) and the execution ends then, not at its state's
    TimeoutSeconds; the step's message says so, and the requester gets one final message."""
    worker, arns = _setup(harness)
    book = harness.inventory.runbooks["restart-safely"]
    job = harness.job("/ops-run restart-safely payment")
    worker.handle_record(job.to_message(), 1)
    _drive(harness, worker, lambda: _prompt(harness) is not None)
    assert _execution(harness, arns, job)["status"] == "RUNNING"

    harness.clock.advance(book.approval_minutes * 60 + 1)
    _drive(harness, worker, lambda: bool(_final(harness, job)))

    described = _execution(harness, arns, job)
    assert described["status"] == "FAILED", described
    assert described["error"] == EXPIRED_ERROR
    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    failed = [
        e["taskFailedEventDetails"]
        for e in sfn.get_execution_history(executionArn=described["executionArn"])["events"]
        if e["type"] == "TaskFailed"
    ]
    assert [f["error"] for f in failed] == [EXPIRED_ERROR]
    assert f"within {book.approval_minutes} min" in failed[0]["cause"]
    [final] = _final(harness, job)
    assert "failed" in final.text and EXPIRED_ERROR in final.text
    assert any(
        f"Nobody answered within {book.approval_minutes} min" in m.text
        for m in harness.slack.messages(channel="C0APPROVALS")
    )
    # A click after that is told the time ran out; nothing more reaches Step Functions or the requester.
    _click(harness, STEP_APPROVE_ACTION, "U0DANA", _prompt(harness))
    _drive(harness, worker, lambda: any("was already expired" in m.text for m in harness.slack.messages()))
    assert len(_final(harness, job)) == 1


def test_a_step_prompt_slack_took_but_answered_503_is_posted_once_and_its_buttons_work(harness):
    """Given Slack taking the waiting state's prompt but answering 503 (on the wire), the task message is delivered
    again and the retry finds the prompt by its first block's id instead of posting a second one; a click on it
    answers the state."""
    proxy = FaultProxy()
    harness.wired(proxy)
    try:
        worker, arns = _setup(harness)
        lost = proxy.add(Rule("error", service="slack", action="chat.postMessage", when="after", times=1))
        job = harness.job("/ops-run restart-safely payment")
        worker.handle_record(job.to_message(), 1)
        sqs = aws_client("sqs", harness.moto.endpoint_url)
        failures, deadline = 0, time.monotonic() + DEADLINE_S
        while not (lost.fired and _prompt(harness) is not None and failures):
            assert time.monotonic() < deadline, "the waiting state was not asked about"
            for message in harness.queued(wait=1):
                harness.clock.advance(harness.poll_s)
                try:
                    worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
                except Exception:  # Slack's 503: SQS delivers it again (here at once)
                    failures += 1
                    sqs.change_message_visibility(
                        QueueUrl=harness.queues.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                    continue
                harness.delete(message)
        _click(harness, STEP_REJECT_ACTION, "U0DANA", _prompt(harness))
        _drive(harness, worker, lambda: bool(_final(harness, job)))
    finally:
        proxy.close()
        harness.wire = None

    prompts = [m for m in harness.slack.messages(channel="C0APPROVALS") if "waits at" in m.text]
    assert len(prompts) == 1, [m.text for m in prompts]  # before: a second prompt, posted by the retry
    assert failures == 1
    [final] = _final(harness, job)
    assert "opsbot.Rejected" in final.text
    assert _execution(harness, arns, job)["status"] == "FAILED"


#: The fault harness's runbook of one Pass state: its execution has ended by the job's first look.
NOTED_RUNBOOK = """
[runbooks.noted]
definition = "tests/integration/runbooks/noted.asl.json"
environment = "staging"
"""


@pytest.mark.parametrize("action", ["GetExecutionHistory", "DescribeExecution"])
def test_a_throttled_look_at_the_execution_is_retried_by_the_queue_and_the_run_is_answered_once(harness, action):
    """Given Step Functions throttling the job's look at its execution (ThrottlingException on the wire, more times
    than the SDK retries, through every receive of the queue message and the first of the copy put back after its
    last), the job is delivered again and follows the run to its end: one final message, that it succeeded, and
    nothing that says it failed."""
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + NOTED_RUNBOOK
    arns = harness.provision_runbooks()
    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arns["noted"])["executions"]}
    proxy = FaultProxy()
    harness.wired(proxy)
    sqs = aws_client("sqs", harness.moto.endpoint_url)
    try:
        looks = harness.settings().max_receive_count + 1  # SQS's receives, then the first of the copy put back
        throttled = proxy.add(
            Rule(
                "error",
                service="states",
                action=action,
                when="before",
                status=400,
                code="ThrottlingException",
                times=looks * AWS_MAX_ATTEMPTS,
            )
        )
        job = harness.job("/ops-run noted")
        sqs.send_message(QueueUrl=harness.queues.queue_url, MessageBody=job.to_message())
        failures = 0
        deadline = time.monotonic() + DEADLINE_S
        while not _final(harness, job):
            assert time.monotonic() < deadline, "the run was not followed to its end"
            for message in harness.queued(wait=1):
                harness.clock.advance(harness.poll_s)
                worker = harness.dispatcher(runbook_arns=arns)
                try:
                    worker.handle_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]))
                except Exception:  # the batch item failed: SQS delivers it again (here at once)
                    failures += 1
                    sqs.change_message_visibility(
                        QueueUrl=harness.queues.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                    continue
                harness.delete(message)
    finally:
        proxy.close()
        harness.wire = None

    assert throttled.fired == looks * AWS_MAX_ATTEMPTS  # every attempt of the SDK, at each of those looks
    assert failures == looks - 1  # the last receive puts the job back instead of failing it
    said = [m.text for m in harness.slack.messages(job=job.job_id[:8])]
    [final] = _final(harness, job)
    assert "succeeded" in final.text, said
    assert not [t for t in said if "failed" in t.lower()], said
    started = [
        e for e in sfn.list_executions(stateMachineArn=arns["noted"])["executions"] if e["executionArn"] not in before
    ]
    assert [e["name"] for e in started] == [execution_name(job.job_id)]


#: A runbook whose second task calls what its role does not allow (tests/integration/runbooks/strays.asl.json).
STRAYS_RUNBOOK = """
[runbooks.strays]
definition = "tests/integration/runbooks/strays.asl.json"
environment = "prod"
targets = ["payment"]
"""


@pytest.mark.iam_denials  # the refusal is the point
def test_a_task_its_state_machines_role_does_not_allow_fails_the_run_as_on_aws(harness):
    """Given a runbook whose state machine runs under the role the CDK app synthesizes for it (its tasks' ECS actions
    on its targets' services only), when a task reads another service, then the call is refused (AccessDenied, the
    refusal logged naming the role, the action and the resource) and the execution fails, while its task on its
    own target's service was allowed; the requester is told it failed, with the error."""
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + STRAYS_RUNBOOK
    worker, arns = _setup(harness)
    _, offset = harness.moto.denials()
    job = harness.job("/ops-run strays payment")
    worker.handle_record(job.to_message(), 1)
    _drive(harness, worker, lambda: bool(_final(harness, job)))

    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    described = sfn.describe_execution(executionArn=execution_arn(arns["strays"], execution_name(job.job_id)))
    assert described["status"] == "FAILED", described
    events = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    succeeded = [e for e in events if e["type"] == "TaskSucceeded"]
    [failed] = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert len(succeeded) == 1  # its own target's service: allowed
    assert "AccessDenied" in failed["error"] + failed.get("cause", ""), failed
    denials, _ = harness.moto.denials(offset)
    assert [(d.action, d.resource.rsplit("/", 1)[-1]) for d in denials] == [("ecs:DescribeServices", "not-its-target")]
    assert denials[0].role.startswith("opsbot-strays-")
    [final] = _final(harness, job)
    assert "failed" in final.text


def test_a_dry_run_lists_the_states_and_the_input_and_starts_nothing(harness):
    worker, arns = _setup(harness)
    planned = harness.job("/ops-run restart-safely payment reason=check")
    job = planned.changed(args=DryRunArgs(of=planned.args))
    harness.run(job, worker)
    text = " ".join(m.text + str(m.payload) for m in harness.slack.messages(job=job.job_id[:8]))
    assert "Read desired count" in text and "Scale back" in text and "reason" in text
    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=arns["restart-safely"])["executions"]]
    assert execution_name(job.job_id) not in names and execution_name(planned.job_id) not in names


def test_cancel_stops_the_execution_at_the_target(harness):
    worker, arns = _setup(harness)
    job = harness.job("/ops-run restart-safely payment")
    worker.handle_record(job.to_message(), 1)
    _drive(harness, worker, lambda: _prompt(harness) is not None)
    cancel = harness.job(f"/ops-cancel {job.job_id[:8]}")
    worker.handle_record(cancel.to_message(), 1)
    assert _execution(harness, arns, job)["status"] == "ABORTED"
    # An approval after the stop is told it came too late; nothing is answered.
    _click(harness, STEP_APPROVE_ACTION, "U0DANA", _prompt(harness))
    _drive(harness, worker, lambda: any("too late" in m.text for m in harness.slack.messages()))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/ops-run restart-safely checkout", "does not run on `checkout`"),
        ("/ops-run restart-safely payment mode=fast", "mode is not a parameter"),
        ("/ops-run restart-safely payment reason=a;b", "not one this runbook accepts"),
    ],
)
def test_the_worker_refuses_what_the_runbook_does_not_allow(harness, line, expected):
    worker, _ = _setup(harness)
    job = harness.job(line)
    harness.run(job, worker)
    assert any(expected in m.text for m in harness.slack.messages(job=job.job_id[:8]))
