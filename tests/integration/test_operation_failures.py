"""What a command's operation raising at run time becomes: an error a retry may fix goes back to SQS; anything
else (a bug, a library's error opsbot does not know) is a permanent failure told to the requester at once, not
retried into the DLQ. The operations here are the worker's own lookup with one command's operation replaced (as a
plugin's would be), on the real worker, moto and the local Slack."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fakes import FakeLambdaContext
from worker_function.app import build_dispatcher
from worker_function.clients import AwsClients
from worker_function.dispatch import Dispatcher
from worker_function.errors import TransientJobError
from worker_function.operations.registry import operation_for


class Raising:
    """An operation whose step raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def run(self, args: Any, job: Any, ctx: Any) -> Any:
        self.calls += 1
        raise self.error


def worker_with(harness, kind: str, operation: Raising) -> Dispatcher:
    settings = harness.settings()
    worker = build_dispatcher(
        settings,
        aws=AwsClients(settings, session=harness.worker_session()),
        inventory=harness.inventory,
        now=harness.clock.now,
        operations=lambda k: operation if k == kind else operation_for(k),
    )
    worker.start_invocation(FakeLambdaContext())
    return worker


def test_an_operation_raising_an_unexpected_error_fails_permanently_and_is_told_at_once(harness):
    bug = Raising(AttributeError("module 'restart' has no attribute 'preview'"))
    worker = worker_with(harness, "restart", bug)
    job = harness.job("/ops-restart payment")

    worker.handle_record(job.to_message(), 1)  # returns: SQS deletes it, it is not delivered again

    [message] = [m for m in harness.slack.messages(job=job.job_id) if m.final]
    assert "failed unexpectedly" in message.text and "AttributeError" in message.text
    assert bug.calls == 1
    assert harness.queued() == [] and harness.dead_letters() == []
    assert worker.leases.holder("payment") is None  # the job is over: its target is free
    events = [r.event for r in worker.ctx.audit.history("payment")]
    assert "outcome" in events


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Describe"),
        ClientError({"Error": {"Code": "ThrottlingException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "Update"),
        ConnectionResetError("reset by peer"),
        TransientJobError("the cache service did not answer"),
    ],
    ids=["aws-503", "throttled", "reset", "transient-job-error"],
)
def test_an_operation_raising_a_transient_error_is_retried_by_sqs(harness, error):
    worker = worker_with(harness, "restart", Raising(error))
    job = harness.job("/ops-restart payment")

    with pytest.raises(type(error)):
        worker.handle_record(job.to_message(), 1)

    assert [m for m in harness.slack.messages(job=job.job_id) if m.final] == []
    assert harness.dead_letters() == []
