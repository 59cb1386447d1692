"""A job's walk through the executor: what one delivery carries from stage to stage, as plain data.

The executor (`pipeline`) makes one `Walk` per delivery and hands it to each stage in turn; a stage reads what
the stages before it left and leaves its own result (the plan, the step's result, its outcome, where its
message went). The audit notes travel in it too (`AuditNotes`): passed down explicitly, never held in a
global. Nothing here calls back into the executor.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import Metrics
from pydantic import BaseModel, ConfigDict, Field

from shared.audit import AuditEvent
from shared.commands import CommandSpec, Pipeline
from shared.jobs import JobEnvelope
from worker_function.outcomes import Said

if TYPE_CHECKING:
    from worker_function.operations import OperationContext, StepResult
    from worker_function.plan import Claimed, StepPlan
    from worker_function.reply import SlackReplier
    from worker_function.store import AuditTrail, Leases
    from worker_function.store.leases import HeldLease

#: An audit note: its event and detail.
Note = tuple[AuditEvent, str]


class DelayedJobQueue(Protocol):
    """Where a waiting job's next step goes: `shared.queue.SqsJobQueue`."""

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str: ...


class StepOutcome(BaseModel):
    """What one step decided, kept by the `run` record: its message, and the next step's state if it waits."""

    model_config = ConfigDict(frozen=True)

    message: Said = Field(union_mode="left_to_right")
    #: When the job's first step ran (elapsed time and maximum age count from here).
    started_at: datetime
    #: None: the job is done. Otherwise the state its next step resumes from.
    state: dict[str, Any] | None = None
    delay_s: float = Field(default=0, ge=0)
    #: The message replaces the one the response_url belongs to (a prompt not replaced yet).
    replace_original: bool = False
    #: The audit notes the step made (start, approval, denial): written again by a retry that skips the step.
    audits: tuple[tuple[AuditEvent, str], ...] = ()

    @property
    def waiting(self) -> bool:
        return self.state is not None


class Delivered(BaseModel):
    """What the one record of a job that only reads keeps: its step's outcome and where its message went."""

    model_config = ConfigDict(frozen=True)

    outcome: StepOutcome
    reply: dict[str, Any]


@dataclass
class AuditNotes:
    """The audit notes of one delivery, and how many of them are written (`stages.audit` writes them)."""

    items: list[Note] = field(default_factory=list)
    written: int = 0
    #: How many there were when the step began: the ones after it are the step's, kept in its record.
    mark: int = 0


@dataclass(frozen=True)
class Services:
    """What the stages use, built once per container (`app.build_dispatcher`)."""

    ctx: OperationContext
    replier: SlackReplier
    leases: Leases
    audit: AuditTrail | None
    metrics: Metrics | None
    queue: DelayedJobQueue | None
    max_delay_s: int
    #: The operation of a job kind (`operations.registry.operation_for`; tests pass their own).
    operation_of: Callable[[str], Any]


@dataclass
class Walk:
    """One delivery of a job on its way down the stages."""

    job: JobEnvelope
    #: The idempotency key of the job's step (`pipeline.step_key`).
    key: dict[str, Any]
    pipeline: Pipeline
    spec: CommandSpec | None
    services: Services
    notes: AuditNotes = field(default_factory=AuditNotes)
    #: A stage stopped the walk (a cancel won): the stages after it do not run; the audit notes are written.
    halted: bool = False

    # -- the step (inside its run-once record) -------------------------------------------------------------
    #: The step's clock: `now` when it started, and `time.monotonic()` then.
    now: datetime | None = None
    started: float = 0.0
    #: The step ran in this delivery (not read back from its record).
    ran: bool = False
    #: The confirmation's claim (None: the job has none to claim).
    claimed: Claimed | None = None
    plan: StepPlan | None = None
    #: The lease held for the step, and what the step returned.
    held: HeldLease | None = None
    result: StepResult | None = None
    #: The confirmation prompt was replaced by "confirmed, queued" before the step ran.
    prompt_replaced: bool = False
    #: How the step ended for the metrics ("succeeded", or the permanent error's name) and the log.
    ended: str = "succeeded"
    detail: str = ""
    #: The permanent failure that ended the step (`PermanentJobError`, `UnknownNameError`): its answer.
    failure: Exception | None = None
    #: Closed when the step ends (the lease is released or kept there).
    exits: ExitStack | None = None

    # -- after the step ---------------------------------------------------------------------------------------
    outcome: StepOutcome | None = None
    #: Where the step's message went (`{"route": ..., "progress": ...}`).
    reply: dict[str, Any] | None = None
    #: The SQS message id of the job's next step.
    next_id: str | None = None
