"""What the CDK app deploys and the local stack provisions, defined once: the tables, the queues and the clock.

`infra/aws` builds the CloudFormation resources from these definitions and `infra/devstack` creates the same
tables and queues in moto from them, so the two cannot drift (the permissions come from the synthesized
template itself: infra/devstack/deployed.py). Neither functions' cold start imports this module.

The clock: on AWS the worker has `WORKER_TIMEOUT_SECONDS` (120 s), the queue's visibility timeout is 6x that
(720 s, Lambda's rule for an SQS event source), a job gets `MAX_RECEIVE_COUNT` receives, and an interrupted
job's in-progress record (Powertools idempotency) lasts the invocation's remaining time, so at most the function
timeout: below the visibility timeout, so the next receive finds it expired and runs the job. The local stack
cannot wait 720 s: `DEPLOYED_TIMING.scaled(visibility)` divides every time constant by the same factor and
keeps the relations (`Timing.problems` lists any broken one; a unit test checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.settings import (
    AUDIT_TABLE,
    IDEMPOTENCY_TABLE,
    INLINE_WAIT_SECONDS,
    JOBS_INDEX,
    LEASES_TABLE,
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    WORKER_TIMEOUT_SECONDS,
)


@dataclass(frozen=True)
class Index:
    """A global secondary index projecting every attribute."""

    name: str
    key: str
    sort_key: str


@dataclass(frozen=True)
class Table:
    """A DynamoDB table: string keys, on-demand, with a TTL attribute."""

    name: str
    key: str
    ttl_attribute: str
    sort_key: str | None = None
    index: Index | None = None
    #: Kept when the stack is destroyed (the audit trail is the record of what was done).
    retain: bool = False


#: Powertools idempotency's layout (partition key `id`, TTL `expiration`).
IDEMPOTENCY = Table(name=IDEMPOTENCY_TABLE, key="id", ttl_attribute="expiration")
#: Leases, holds, decisions and the registry of jobs (its index `jobs`: worker_function/store/jobs.py).
LEASES = Table(
    name=LEASES_TABLE,
    key="target",
    ttl_attribute="expires_at",
    index=Index(name=JOBS_INDEX, key="registry", sort_key="job_id"),
)
#: Who did what, per target, kept until its retention TTL.
AUDIT = Table(name=AUDIT_TABLE, key="target", sort_key="sk", ttl_attribute="expires_at", retain=True)
TABLES = (IDEMPOTENCY, LEASES, AUDIT)

#: How long the jobs queue keeps a message (SQS's default, 4 days) and the DLQ (long enough to investigate and
#: redrive a failed job after a weekend).
JOBS_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class Timing:
    """The time constants of one deployment of the queue and the worker."""

    #: The worker function's timeout: the Lambda context's remaining time at the start of an invocation.
    function_timeout_s: float
    #: The jobs queue's visibility timeout.
    visibility_timeout_s: float
    #: Receives before SQS moves a job to the DLQ (the redrive policy; the worker's "last attempt" reads it).
    max_receive_count: int = MAX_RECEIVE_COUNT
    #: How long a step may look again within itself before it re-queues (the worker's OPSBOT_INLINE_WAIT).
    inline_wait_s: float = INLINE_WAIT_SECONDS

    @property
    def in_progress_expiry_s(self) -> float:
        """How long an interrupted invocation's in-progress record lasts: Powertools sets its expiry to the
        invocation's remaining time, at most the function timeout."""
        return self.function_timeout_s

    def scaled(self, visibility_timeout_s: float) -> Timing:
        """This clock sped up so the visibility timeout is `visibility_timeout_s`: every time constant divided by
        the same factor, the number of receives unchanged."""
        factor = visibility_timeout_s / self.visibility_timeout_s
        return replace(
            self,
            function_timeout_s=self.function_timeout_s * factor,
            visibility_timeout_s=visibility_timeout_s,
            inline_wait_s=self.inline_wait_s * factor,
        )

    def problems(self) -> list[str]:
        """AWS's relations this clock breaks (empty: none)."""
        found: list[str] = []
        if self.visibility_timeout_s < 6 * self.function_timeout_s:
            found.append(
                f"visibility timeout {self.visibility_timeout_s:g} s is below 6x the function timeout "
                f"{self.function_timeout_s:g} s (Lambda's rule for an SQS event source)"
            )
        if self.in_progress_expiry_s >= self.visibility_timeout_s:
            found.append(
                f"an interrupted job's in-progress record ({self.in_progress_expiry_s:g} s) outlives the visibility "
                f"timeout ({self.visibility_timeout_s:g} s): the next receive finds it still running"
            )
        if self.inline_wait_s >= self.function_timeout_s:
            found.append(f"inline wait {self.inline_wait_s:g} s is not below the function timeout")
        if self.max_receive_count != MAX_RECEIVE_COUNT:
            found.append(f"{self.max_receive_count} receives, not the deployed {MAX_RECEIVE_COUNT}")
        return found


#: The clock the CDK app deploys.
DEPLOYED_TIMING = Timing(
    function_timeout_s=WORKER_TIMEOUT_SECONDS, visibility_timeout_s=QUEUE_VISIBILITY_TIMEOUT_SECONDS
)
#: The local stack's visibility timeout by default (AWS: 720 s); every other constant follows from it.
LOCAL_VISIBILITY_TIMEOUT_S = 12


def local_timing(visibility_timeout_s: float = LOCAL_VISIBILITY_TIMEOUT_S) -> Timing:
    """The local stack's clock: the deployed one scaled to this visibility timeout."""
    return DEPLOYED_TIMING.scaled(visibility_timeout_s)
