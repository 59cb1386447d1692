"""The worker's entry point: each record of a batch handled, the ones that raised reported back to SQS."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("aws_lambda_powertools")

from shared.settings import WorkerSettings
from worker_function.function import AlarmsOnFirstUse, WorkerFunction


class RecordingDispatcher:
    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.handled: list[tuple[str, int]] = []
        self.invocations: list[Any] = []

    def start_invocation(self, context: Any) -> None:
        self.invocations.append(context)

    def handle_record(self, body: str, receive_count: int) -> None:
        self.handled.append((body, receive_count))
        if body in self.failing:
            raise ConnectionError("DynamoDB went away")


class Alarms:
    def handle(self, body: str, attempt: int = 1, attributes: Any = None) -> bool:
        return body.startswith("alarm")


def _record(message_id: str, body: str, count: int = 1) -> dict[str, Any]:
    return {"messageId": message_id, "body": body, "attributes": {"ApproximateReceiveCount": str(count)}}


def test_given_a_batch_when_one_job_raises_then_only_its_message_comes_back_and_alarms_are_not_run_as_jobs():
    function = WorkerFunction(WorkerSettings(jobs_queue_url="https://sqs.example/jobs"))
    dispatcher = RecordingDispatcher(failing={"job-2"})
    function.dispatcher, function.alarms, function.deferrals = dispatcher, Alarms(), object()  # type: ignore[assignment]
    event = {
        "Records": [_record("m1", "job-1"), _record("m2", "job-2", 3), _record("m3", "alarm-x"), _record("m4", "job-4")]
    }

    result = function(event, "ctx")

    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert dispatcher.handled == [("job-1", 1), ("job-2", 3), ("job-4", 1)]
    assert dispatcher.invocations == ["ctx"]


def test_given_a_batch_when_every_job_succeeds_then_none_comes_back():
    function = WorkerFunction(WorkerSettings(jobs_queue_url="https://sqs.example/jobs"))
    function.dispatcher, function.alarms, function.deferrals = RecordingDispatcher(set()), Alarms(), object()  # type: ignore[assignment]
    assert function({"Records": [_record("m1", "job-1")]}, None) == {"batchItemFailures": []}


def test_given_jobs_only_then_the_alarm_feed_is_never_built_and_the_first_alarm_builds_it_once():
    built: list[Alarms] = []

    def build() -> Alarms:
        built.append(Alarms())
        return built[-1]

    function = WorkerFunction(WorkerSettings(jobs_queue_url="https://sqs.example/jobs"))
    function.dispatcher, function.deferrals = RecordingDispatcher(set()), object()  # type: ignore[assignment]
    function.alarms = AlarmsOnFirstUse(build)  # type: ignore[arg-type]
    job = json.dumps({"version": 1, "kind": "ping"})
    sns = json.dumps({"Type": "Notification", "Message": "{}"})

    function({"Records": [_record("m1", job), _record("m2", "not json")]}, None)
    assert built == []

    function({"Records": [_record("m3", sns), _record("m4", job), _record("m5", sns)]}, None)
    assert len(built) == 1  # then the feed itself tells alarms from jobs
    assert function.dispatcher.handled == [(job, 1), ("not json", 1), (sns, 1), (job, 1), (sns, 1)]  # type: ignore[union-attr]
