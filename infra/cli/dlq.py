"""`opsbot dlq list|redrive`: what is in the dead-letter queue, and sending it back to run again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.jobs import reply_target_of
from shared.queue import DLQ_ATTEMPTS_ATTR, DLQ_FAILED_AT_ATTR, DLQ_REASON_ATTR


@dataclass(frozen=True)
class DeadJob:
    message_id: str
    receipt_handle: str
    body: str
    job_id: str
    command: str
    requester: str
    reason: str
    attempts: int
    failed_at: str

    @property
    def readable(self) -> bool:
        """False for a message that is not a job (poison): no job id, command or requester to show."""
        return self.job_id != "?"

    @property
    def label(self) -> str:
        """How a sentence names it: `7f3a2b1c (/ops-restart payment)`, or the message id of one that is no job."""
        if not self.readable:
            return f"message {self.message_id[:8]} (not a job; `opsbot dlq list` shows why it is here)"
        return f"{self.job_id[:8]} ({self.command})"

    def matches(self, job_id: str) -> bool:
        """True if `job_id` is this job's id or its first characters."""
        return self.readable and self.job_id.startswith(job_id)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("receipt_handle", "body")}


def _alarm_of(body: str) -> str | None:
    """`alarm NAME (STATE)` for a CloudWatch alarm notification the worker could not show, else None."""
    from shared.alarms import parse_alarm
    from shared.errors import AlarmFormatError

    try:
        alarm = parse_alarm(body)
    except AlarmFormatError:
        return None
    return f"alarm {alarm.name[:80]} ({alarm.state})"


def _dead_job(message: dict[str, Any]) -> DeadJob:
    attributes = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
    target = reply_target_of(message["Body"])
    receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
    return DeadJob(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message["Body"],
        job_id=target.job_id if target else "?",
        command=target.display if target else (_alarm_of(message["Body"]) or "?"),
        requester=target.requester.user_id if target else "?",
        # Without our attributes it came by the queue's redrive policy: the worker crashed or timed out.
        reason=attributes.get(DLQ_REASON_ATTR, "exceeded maxReceiveCount (worker crashed or timed out)"),
        attempts=int(attributes.get(DLQ_ATTEMPTS_ATTR) or receives),
        failed_at=attributes.get(DLQ_FAILED_AT_ATTR, ""),
    )


def _receive_all(sqs: Any, dlq_url: str, *, hide_for: int) -> list[DeadJob]:
    """Receive every message once (hidden for `hide_for` seconds so none is read twice)."""
    jobs: list[DeadJob] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=hide_for,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return jobs
        jobs.extend(_dead_job(m) for m in batch)


def list_dead_jobs(sqs: Any, dlq_url: str) -> list[DeadJob]:
    """Peek at the DLQ: messages stay, hidden for a few seconds while being read."""
    jobs = _receive_all(sqs, dlq_url, hide_for=5)
    for job in jobs:  # make them visible again right away
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=job.receipt_handle, VisibilityTimeout=0)
    return jobs


def redrive(sqs: Any, dlq_url: str, queue_url: str, *, job_id: str | None = None) -> list[DeadJob]:
    """Send dead jobs (all, or one job id) back to the jobs queue, then delete them from the DLQ.
    The job id stays the same, so a job that did complete is not run twice."""
    moved = []
    for job in _receive_all(sqs, dlq_url, hide_for=30):
        if job_id is not None and not job.matches(job_id):
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=job.receipt_handle, VisibilityTimeout=0)
            continue
        sqs.send_message(QueueUrl=queue_url, MessageBody=job.body)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=job.receipt_handle)
        moved.append(job)
    return moved


def format_table(jobs: list[DeadJob]) -> str:
    if not jobs:
        return "The dead-letter queue is empty."
    rows = [("JOB", "COMMAND", "REQUESTER", "ATTEMPTS", "FAILED AT", "REASON")]
    rows += [(j.job_id[:8], j.command, j.requester, str(j.attempts), j.failed_at[:19], j.reason) for j in jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows)


def to_json_lines(jobs: list[DeadJob]) -> str:
    return "\n".join(json.dumps(j.as_dict()) for j in jobs)
