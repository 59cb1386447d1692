"""Fakes that record what they were given (no mocks that must know return types)."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsbot_testkit.lambda_context import FakeLambdaContext
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


__all__ = ["FakeLambdaContext", "RecordingQueue"]
