"""The executor: one delivery of a job walks down its stages, in order, each once; no stage calls back here.

Delivery from SQS is at least once, so a job's step and what follows it are kept in run-once records by job id
and step (Powertools idempotency, DynamoDB; the idempotency concern lives here and nowhere else): `run` executes
the step once and keeps its outcome; `reply` delivers (or updates) its message once; `next` re-queues a waiting
job once, with the state its next step resumes from; `prompt` replaces a confirmation prompt once. A job that
only reads runs and answers in one record, `deliver`. A redelivery after a failure at any stage redoes only what
did not finish (and a stage that failed after its side effect finds it through its intent: `effects`).

A walk (`walk.Walk`) carries the job, its pipeline (`shared.commands.Pipeline`: what its kind needs, as data),
the stages' results and the audit notes, explicitly. The stages, by concern (`worker_function.stages`):

    audit.request            the request (and confirmation) noted               audited, first step
    registry.running         "running" in /ops-jobs; a cancelled job stops here  tracked
    registry.successor       a successor of a job given up stops here           untracked successor
    step (run once)          the step:
        step.begin             its clock
        metrics.queue_wait     how long it waited in the queue
        prompt.claim_confirmation  the confirmation claimed (confirmed, first step)
        planning.plan          the facts read, `plan_step`'s decision (nothing written)
        prompt.settle          the approval claimed, or the approver refused
        audit.planned          the plan's notes, written before any side effect
        lease.take             the target's lease for the step
        prompt.replace (once)  "confirmed, queued" replaces the prompt
        step.operate           refused, stopped, or the operation's run/resume
        lease.keep             a waiting job keeps its target
        step.outcome           its message and next state (a permanent failure: `step.failed`)
        metrics.finished       its duration and outcome
        audit.kept             its notes, kept in its record
    registry.after_step      "waiting" or "finished"; a cancel that won stops here tracked
    reply.deliver (once)     the message delivered
    audit.restored           a step read back from its record: its notes
    reply.next_step (once)   the next step queued                               waiting
    audit.outcome            the outcome noted                                  audited, done
    audit.write              the notes not written yet, in one call
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from shared.commands import pipeline_for, spec_for_kind
from shared.inventory import UnknownNameError
from shared.jobs import JobEnvelope
from worker_function.errors import PermanentJobError
from worker_function.plan import Run
from worker_function.stages import audit, lease, metrics, planning, prompt, registry, reply, step
from worker_function.walk import Delivered, Services, StepOutcome, Walk

logger = logging.getLogger(__name__)

#: The idempotency key of a record: the job, its step and its approver (not the payload, which is validated).
IDEMPOTENCY_KEY_JMESPATH = "[job_id, step, approved_by]"
#: A job id arriving with another request's payload fails Powertools' payload validation.
PAYLOAD_JMESPATH = "payload"


def request_digest(job: JobEnvelope) -> str:
    """What makes a request itself (not when or through which URL it came): a job id arriving with another
    digest is a collision, or a message written to the queue by hand."""
    identity = job.model_dump_json(include={"command", "text", "args", "requester", "confirmed_by", "approved_by"})
    return hashlib.sha256(f"{identity}|{job.step}".encode()).hexdigest()


def step_key(job: JobEnvelope) -> dict[str, Any]:
    """The key of the step's records."""
    key: dict[str, Any] = {"job_id": job.job_id, "step": job.step, "payload": request_digest(job)}
    if job.approved_by:  # a refused approval (not an approver) must not stand in for a later, valid one
        key["approved_by"] = job.approved_by
    return key


@dataclass(frozen=True)
class Stage:
    """One stage: `run(walk)`, when `when(walk)` holds; with `once`, inside that run-once record, its result
    (run now, or read back from the record) given to `keep(walk, result)`."""

    name: str
    run: Callable[[Walk], Any]
    when: Callable[[Walk], bool] | None = None
    once: str | None = None
    keep: Callable[[Walk, Any], None] | None = None


def _first_step(walk: Walk) -> bool:
    return walk.job.continuation is None


def _waiting(walk: Walk) -> bool:
    return walk.outcome is not None and walk.outcome.waiting


def _set_outcome(walk: Walk, outcome: StepOutcome) -> None:
    walk.outcome = outcome


def _set_reply(walk: Walk, route: dict[str, Any]) -> None:
    walk.reply = route


def _set_next(walk: Walk, message_id: str) -> None:
    walk.next_id = message_id


def _set_delivered(walk: Walk, delivered: Delivered) -> None:
    walk.outcome, walk.reply = delivered.outcome, delivered.reply


#: The step, inside its run-once record; a permanent failure among them becomes the step's answer.
STEP = (
    Stage("step.begin", step.begin),
    Stage("metrics.queue_wait", metrics.queue_wait, when=_first_step),
    Stage(
        "prompt.claim_confirmation",
        prompt.claim_confirmation,
        when=lambda w: _first_step(w) and bool(w.job.confirmed_by) and w.pipeline.policy_checked,
    ),
    Stage("planning.plan", planning.plan),
    Stage("prompt.settle", prompt.settle),
    Stage("audit.planned", audit.planned),
    Stage("lease.take", lease.take),
    Stage(
        "prompt.replace",
        prompt.replace,
        when=lambda w: isinstance(w.plan, Run) and w.plan.replace_prompt,
        once="prompt",
    ),
    Stage("step.operate", step.operate),
    Stage("lease.keep", lease.keep),
)
#: After the step (its lease released or kept): its outcome.
AFTER_STEP = (
    Stage("step.outcome", step.outcome),
    Stage("metrics.finished", metrics.finished),
    Stage("audit.kept", audit.kept),
)
#: A permanent failure of the step becomes its answer.
FAILED = Stage("step.failed", step.failed)
#: A read's answer, inside its step's record.
ANSWER = Stage("reply.deliver", reply.deliver, keep=_set_reply)
#: The walk's end: its audit notes written (quietly when the walk failed: the failure is what SQS hears of).
WRITE = Stage("audit.write", audit.write)
WRITE_QUIETLY = Stage("audit.write_quietly", audit.write_quietly)


class Executor:
    """Walks one delivery of a job down its stages (`walk`); raises what SQS should retry (`dispatch` decides)."""

    def __init__(
        self,
        services: Services,
        *,
        run_store: BasePersistenceLayer,
        reply_store: BasePersistenceLayer,
        idempotency: IdempotencyConfig,
    ) -> None:
        self.services = services

        def once(store: BasePersistenceLayer, prefix: str, function: Any, output: type | None = None) -> Any:
            serializer = PydanticSerializer(output) if output is not None else None
            return idempotent_function(
                data_keyword_argument="key",
                persistence_store=store,
                config=idempotency,
                key_prefix=f"opsbot#{prefix}",
                output_serializer=serializer,
            )(function)

        # One record per (job, step) and stage; the reply store serves three of them, each with its own prefix.
        self._records: dict[str, Any] = {
            "run": once(run_store, "run", self._stage, StepOutcome),
            "deliver": once(run_store, "deliver", self._stage, Delivered),
            "reply": once(reply_store, "reply", self._stage),
            "prompt": once(reply_store, "prompt", self._stage),
            "next": once(reply_store, "next", self._stage),
        }
        run_step = Stage("step", self._step, once="run", keep=_set_outcome)
        deliver = Stage("step+reply.deliver", self._step_and_deliver, once="deliver", keep=_set_delivered)
        self._walks = {
            reads: (
                Stage("audit.request", audit.request, when=lambda w: w.job.step == 0 and w.pipeline.audited),
                Stage("registry.running", registry.running, when=lambda w: w.pipeline.tracked),
                Stage(
                    "registry.successor", registry.successor, when=lambda w: w.job.successor and not w.pipeline.tracked
                ),
                deliver if reads else run_step,
                Stage("registry.after_step", registry.after_step, when=lambda w: w.pipeline.tracked),
                *(() if reads else (Stage("reply.deliver", reply.deliver, once="reply", keep=_set_reply),)),
                Stage("audit.restored", audit.restored),
                Stage("reply.next_step", reply.next_step, when=_waiting, once="next", keep=_set_next),
                Stage("audit.outcome", audit.outcome, when=lambda w: not _waiting(w) and w.pipeline.audited),
            )
            for reads in (False, True)
        }

    def walk(self, job: JobEnvelope) -> Walk:
        """The job's stages, each once per (job, step); its audit notes written at the end, even on a failure."""
        pipeline = pipeline_for(job.kind)
        walk = Walk(job=job, key=step_key(job), pipeline=pipeline, spec=spec_for_kind(job.kind), services=self.services)
        try:
            self._run(self._walks[pipeline.reads_only], walk)
            self._enter(WRITE, walk)
        except Exception:
            self._enter(WRITE_QUIETLY, walk)
            raise
        return walk

    def _run(self, stages: tuple[Stage, ...], walk: Walk) -> None:
        for stage in stages:
            if walk.halted:
                return
            if stage.when is None or stage.when(walk):
                self._enter(stage, walk)

    def _enter(self, stage: Stage, walk: Walk) -> None:
        logger.debug("stage %s", stage.name)
        if stage.once is None:
            result = stage.run(walk)
        else:
            result = self._records[stage.once](key=walk.key, walk=walk, stage=stage)
        if stage.keep is not None:
            stage.keep(walk, result)

    def _stage(self, *, key: dict[str, Any], walk: Walk, stage: Stage) -> Any:
        """A stage inside its run-once record (`key`: the record's, read by Powertools)."""
        return stage.run(walk)

    def _step(self, walk: Walk) -> StepOutcome:
        """The step's stages under its lease (closed when they end); a permanent failure becomes its answer."""
        try:
            with ExitStack() as exits:
                walk.exits = exits
                self._run(STEP, walk)
        except (PermanentJobError, UnknownNameError) as exc:
            walk.failure = exc
            self._enter(FAILED, walk)
        finally:
            walk.exits = None
        self._run(AFTER_STEP, walk)
        assert walk.outcome is not None
        return walk.outcome

    def _step_and_deliver(self, walk: Walk) -> Delivered:
        """A job that only reads: its step and its message in one record (a retry may run the step again, and its
        message's intent makes the repeat replace the copy that may have arrived)."""
        outcome = self._step(walk)
        self._enter(ANSWER, walk)
        assert walk.reply is not None
        return Delivered(outcome=outcome, reply=walk.reply)
