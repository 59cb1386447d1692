"""The worker's data: one small interface per kind of record, each with its DynamoDB (or SQS) implementation.

leases.py (`LeaseStore`): one mutating job per target. decisions.py (`Decisions`): one decision per prompt.
intents.py (`DynamoIntents`): a side effect's intent, written before the call. audit.py (`AuditLog`): the
audit trail. dead_letters.py (`DeadLetters`): a job put in the DLQ with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.audit import AuditEvent, AuditRecord
    from shared.jobs import JobEnvelope
    from worker_function.store.decisions import Decision, Outcome
    from worker_function.store.leases import HeldLease, Lease


class Leases(Protocol):
    def acquire(self, target: str, job: JobEnvelope, *, since: int | None = None) -> Lease: ...

    def holder(self, target: str) -> Lease | None: ...

    def release(self, lease: Lease) -> None: ...

    def step(self, target: str, job: JobEnvelope, *, since: int | None = None) -> AbstractContextManager[HeldLease]:
        """Hold the lease for one step of a job (kept past it with `HeldLease.keep`)."""
        ...


class DecisionStore(Protocol):
    def open(self, prompt_id: str, channel: str, ts: str, *, approvers: Sequence[str] = (), rule: str = "") -> None:
        """Remember where an approval request's message is and who may decide it."""
        ...

    def open_task(
        self, prompt_id: str, token: str, *, requester: str, answer_by: int, approvers: Sequence[str], rule: str
    ) -> None: ...

    def claim(self, prompt_id: str, outcome: Outcome, by: str = "") -> Decision:
        """Decide the prompt unless it is decided already: the decision that stands."""
        ...

    def get(self, prompt_id: str) -> Decision | None: ...


class AuditTrail(Protocol):
    def record(self, job: JobEnvelope, event: AuditEvent, detail: str = "") -> AuditRecord: ...

    def record_all(self, job: JobEnvelope, notes: Sequence[tuple[AuditEvent, str]]) -> list[AuditRecord]:
        """The job's events in one write."""
        ...

    def history(self, target: str, *, limit: int = 20) -> list[AuditRecord]: ...


class DeadLetterQueue(Protocol):
    def put(self, body: str, *, reason: str, attempts: int) -> None: ...


__all__ = ["AuditTrail", "DeadLetterQueue", "DecisionStore", "Leases"]
