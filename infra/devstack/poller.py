"""The Lambda SQS event source mapping, as a thread: receive a batch, invoke the worker, delete what succeeded.

Like AWS with `ReportBatchItemFailures`: the records listed in `batchItemFailures` stay on the
queue and come back after the visibility timeout; an exception or an invalid response fails the
whole batch; after `maxReceiveCount` receives SQS (here moto) moves a message to the DLQ.
(docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.devstack.aws import aws_client
from infra.devstack.events import LambdaContext, sqs_lambda_event

logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]


def default_worker_handler() -> LambdaHandler:
    """The worker function's `lambda_handler`; imported on first use, after the environment is set."""
    from worker_function.handler import lambda_handler

    return lambda_handler


@dataclass
class PollerStats:
    """What the poller did so far."""

    batches: int = 0
    records: int = 0
    #: Records left on the queue to come back (listed failures, or whole failed batches).
    failures: int = 0
    #: Invocations that raised.
    errors: int = 0
    deleted: int = 0


def failed_message_ids(result: Any, message_ids: Sequence[str]) -> set[str]:
    """The ids to leave on the queue, read from the handler's result the way Lambda reads it.

    Success: None, {} or an empty/None `batchItemFailures`. Whole-batch failure: anything that
    is not a dict, or an entry whose `itemIdentifier` is missing, empty or not in the batch.
    """
    if result is None:
        return set()
    if not isinstance(result, Mapping):
        return set(message_ids)
    failures = result.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    ids: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not item or item not in message_ids:
            return set(message_ids)
        ids.add(str(item))
    return ids


class SqsPoller:
    """Polls one queue and invokes a Lambda-style handler with each batch, on a daemon thread."""

    def __init__(
        self,
        queue_url: str,
        queue_arn: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        handler: LambdaHandler | None = None,
        client: Any = None,
        batch_size: int = 10,
        wait_seconds: int = 1,
        function_name: str = "opsbot-worker",
        function_timeout_s: float = 60.0,
        thread_name: str = "sqs-poller",
    ) -> None:
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.stats = PollerStats()
        self._handler = handler
        self._client = client if client is not None else aws_client("sqs", endpoint_url or "", region)
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._function_name = function_name
        self._function_timeout_s = function_timeout_s
        self._thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SqsPoller:
        """Import the default worker handler if none was given, and start polling on a daemon thread."""
        if self._handler is None:
            self._handler = default_worker_handler()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the thread to stop after its current receive or invocation, without waiting for it."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current receive (at most `wait_seconds`) or invocation finishes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def __enter__(self) -> SqsPoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    break
                logger.exception("polling %s failed; retrying", self.queue_url)
                self._stop.wait(0.5)

    def poll_once(self) -> int:
        """Receive one batch (long poll of `wait_seconds`), invoke the handler, delete successes.
        Returns the number of records received."""
        response = self._client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if messages:
            self.invoke(messages)
        return len(messages)

    def invoke(self, messages: Sequence[Mapping[str, Any]]) -> set[str]:
        """Invoke the handler with one batch and settle it; returns the ids left on the queue."""
        handler = self._handler or default_worker_handler()
        event = sqs_lambda_event(messages, self.queue_arn, self.region)
        ids = [str(m["MessageId"]) for m in messages]
        context = LambdaContext(
            function_name=self._function_name, timeout_s=self._function_timeout_s, region=self.region
        )
        self.stats.batches += 1
        self.stats.records += len(messages)
        started = time.monotonic()
        try:
            failed = failed_message_ids(handler(event, context), ids)
        except Exception:
            logger.exception("the worker handler raised; the whole batch of %d comes back", len(ids))
            failed = set(ids)
            self.stats.errors += 1
        if time.monotonic() - started > self._function_timeout_s:
            logger.warning(
                "the worker ran %.1f s, past its %g s timeout", time.monotonic() - started, self._function_timeout_s
            )
        self.stats.failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._delete(done)
        return failed

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        for start in range(0, len(entries), 10):
            result = self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
            self.stats.deleted += len(result.get("Successful", []))
            for failure in result.get("Failed", []):
                logger.warning("could not delete message %s: %s", failure.get("Id"), failure.get("Message"))
