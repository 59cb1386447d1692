"""Fakes that record what they were given (no mocks that must know return types)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.errors import EnqueueError
from shared.jobs import JobEnvelope


@dataclass
class RecordingQueue:
    """A JobQueue that keeps what it was sent; `fail` makes every send refuse."""

    jobs: list[JobEnvelope] = field(default_factory=list)
    fail: bool = False

    def send(self, job: JobEnvelope) -> str:
        if self.fail:
            raise EnqueueError("queue unavailable")
        self.jobs.append(job)
        return f"msg-{len(self.jobs)}"


@dataclass
class FakeLambdaContext:
    function_name: str = "opsbot-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:opsbot-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
