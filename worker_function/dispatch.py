"""One queue message in: the operation's step runs at most once, and the requester always hears back.

Delivery from SQS is at least once, so each stage is idempotent by job id and step (Powertools
idempotency, DynamoDB): `run` executes the step once and keeps its outcome; `reply` delivers (or updates)
its message once; `next` re-queues a waiting job once, with the state its next step resumes from. A
redelivery after a failure at any stage redoes only what did not finish. A stage that failed after its
side effect (a build started, a message sent) is redone through the effect's intent (`effects`): the
redelivery finds the effect at the target instead of making it again. What happens around a job's steps
(audit, policy, approval, confirmation, lease) is read from its `Pipeline` (`shared.commands`), never from
its kind's name. What a step does (run, refuse, stop) is decided by `plan.plan_step`, a pure function; the
`run` stage gathers its inputs (the confirmation claimed, the policy's verdict with user groups resolved)
and performs the plan it returns.

Long jobs: a step that must wait returns `Wait`; the job goes back on the queue with DelaySeconds (<= 900)
and a v2 envelope carrying the continuation, so no Lambda waits idle and a job can run for hours. The
target's lease is kept between steps and renewed at each; a job past its spec's `max_age_s` is stopped
and reported.

Prompts: a confirmed job (and an approved one) first claims its prompt's decision (`store.decisions`), so that
exactly one of confirmed / cancelled / approved / rejected / expired wins; a job that lost does not run.
A confirmed job replaces its prompt once the policy (user groups resolved) and the target's lease let it
run; a refusal before that replaces the prompt instead, so the requester never reads "queued" and then
"denied". An approved job whose approver turns out not to be one (a user group the ack could not resolve)
is refused to the approver alone, ephemerally in the approvals channel, and audited as a denial; nothing is
decided and the requester is not told: the request stays open for a real approver. A command whose spec
needs confirming runs only with its confirmation claimed. A user group Slack could not list just now is
not a refusal: the clicker is told to try again, and the delivery fails so SQS retries it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import Metrics, MetricUnit
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import blockkit, messages
from shared.audit import AuditEvent
from shared.blockkit import SlackMessage
from shared.commands import ApprovalRequestArgs, AuditNoteArgs, CommandSpec, Pipeline, pipeline_for, spec_for_kind
from shared.errors import JobFormatError
from shared.guard import check
from shared.inventory import UnknownNameError
from shared.jobs import Continuation, JobEnvelope, ProgressHandle, ReplyTarget, reply_target_of, utcnow
from shared.observability import (
    COMMAND_DIMENSION,
    JOB_DURATION,
    JOB_OUTCOME,
    OUTCOME_DIMENSION,
    QUEUE_WAIT,
    job_log_keys,
    publish,
)
from shared.runbooks import TaskMessage, task_job
from shared.settings import WORKER_TIMEOUT_SECONDS
from worker_function import job_messages, tracking
from worker_function.errors import (
    GROUP_CHECK_FAILED,
    ContinuationError,
    GroupLookupError,
    PermanentJobError,
    transient,
)
from worker_function.operations import GroupResolver, OperationContext, StepResult, StepState, Wait
from worker_function.operations.registry import run_step
from worker_function.outcomes import NothingToPost, Said
from worker_function.plan import Claimed, HoldFacts, Refuse, Run, StepPlan, Stop, Verdict, plan_step
from worker_function.prompts import claim_approval, hold_facts, refuse_decision, tell_clicker
from worker_function.reply import SlackReplier
from worker_function.slack_errors import SlackRateLimitedError, refusal_of
from worker_function.store import AuditTrail, DeadLetterQueue, Leases
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)


#: The idempotency key of a stage: the job, its step and its approver (not the payload, which is validated).
IDEMPOTENCY_KEY_JMESPATH = "[job_id, step, approved_by]"
#: A job id arriving with another request's payload fails Powertools' payload validation.
PAYLOAD_JMESPATH = "payload"
#: A job's last receive that failed transiently, or found a copy holding its run-once record, puts it back on
#: the queue (after the function's timeout, at least 30 s, then twice that, ...) at most this many times before
#: it is told and dead-lettered.
MAX_REQUEUES = 5
REQUEUE_BASE_S = 30


def request_digest(job: JobEnvelope) -> str:
    """What makes a request itself (not when or through which URL it came): a job id arriving with another
    digest is a collision, or a message written to the queue by hand."""
    identity = job.model_dump_json(include={"command", "text", "args", "requester", "confirmed_by", "approved_by"})
    return hashlib.sha256(f"{identity}|{job.step}".encode()).hexdigest()


class DelayedJobQueue(Protocol):
    """Where a waiting job's next step goes: `shared.queue.SqsJobQueue`."""

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str: ...


class StepOutcome(BaseModel):
    """What one step decided, kept by the `run` stage: its message, and the next step's state if it waits."""

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
    """What the one stage of a job that only reads keeps: its step's outcome and where its message went."""

    model_config = ConfigDict(frozen=True)

    outcome: StepOutcome
    reply: dict[str, Any]


@dataclass
class _Notes:
    """The audit notes of the delivery being handled, and how many of them are written."""

    items: list[tuple[AuditEvent, str]] = field(default_factory=list)
    written: int = 0


#: Written in one call (`AuditTrail.record_all`) before the step's side effects and at the end
#: (`Dispatcher._write_audit`). None outside `_stages`: a note is written at once.
_AUDIT_NOTES: contextvars.ContextVar[_Notes | None] = contextvars.ContextVar("opsbot_audit_notes", default=None)


class Dispatcher:
    def __init__(
        self,
        ctx: OperationContext,
        replier: SlackReplier,
        *,
        leases: Leases,
        run_store: BasePersistenceLayer,
        reply_store: BasePersistenceLayer,
        idempotency: IdempotencyConfig,
        dead_letters: DeadLetterQueue | None,
        max_receive_count: int,
        metrics: Metrics | None = None,
        queue: DelayedJobQueue | None = None,
        max_delay_s: int = 900,
        audit: AuditTrail | None = None,
    ) -> None:
        self.audit = audit
        self.ctx = ctx
        self.replier = replier
        self.leases = leases
        self.dead_letters = dead_letters
        self.max_receive_count = max_receive_count
        self.metrics = metrics
        self.queue = queue
        self.max_delay_s = max_delay_s
        self._idempotency = idempotency
        #: How long an invocation may still run (its run-once records expire with it): the function's timeout.
        self._invocation_s = float(WORKER_TIMEOUT_SECONDS)
        self._run_once = idempotent_function(
            data_keyword_argument="key",
            persistence_store=run_store,
            config=idempotency,
            key_prefix="opsbot#run",
            output_serializer=PydanticSerializer(StepOutcome),
        )(self._run_noted)
        # A job that only reads runs and answers in one stage, one record (`Pipeline.reads_only`).
        self._deliver_once = idempotent_function(
            data_keyword_argument="key",
            persistence_store=run_store,
            config=idempotency,
            key_prefix="opsbot#deliver",
            output_serializer=PydanticSerializer(Delivered),
        )(self._run_and_reply)
        self._reply_once = idempotent_function(
            data_keyword_argument="key", persistence_store=reply_store, config=idempotency, key_prefix="opsbot#reply"
        )(self._reply)
        self._prompt_once = idempotent_function(
            data_keyword_argument="key", persistence_store=reply_store, config=idempotency, key_prefix="opsbot#prompt"
        )(self._replace_prompt)
        # The reply store is reused for the third stage: each idempotent function has its own key prefix.
        self._next_once = idempotent_function(
            data_keyword_argument="key", persistence_store=reply_store, config=idempotency, key_prefix="opsbot#next"
        )(self._next)

    @property
    def groups(self) -> GroupResolver:
        """The worker's user-group cache, shared with the operations (`OperationContext.groups`)."""
        return self.ctx.groups

    def start_invocation(self, lambda_context: Any) -> None:
        """An INPROGRESS record of this invocation expires with it, so a timeout never blocks a retry."""
        self._idempotency.register_lambda_context(lambda_context)
        remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
        self._invocation_s = remaining() / 1000 if callable(remaining) else float(WORKER_TIMEOUT_SECONDS)

    def handle_record(self, body: str, receive_count: int) -> None:
        """Handle one SQS message. Returning means "delete it"; raising means "deliver it again"."""
        try:
            task = TaskMessage.parse(body)  # a runbook's state waiting for a person
            job = JobEnvelope.from_message(body) if task is None else task_job(task, utcnow())
        except (JobFormatError, ValidationError) as exc:
            self._reject(body, str(exc), receive_count)
            return
        keys = job_log_keys(job)
        logger.info("received %s step %d (attempt %d)", job.display, job.step, receive_count, extra=keys)
        if isinstance(job.args, AuditNoteArgs) and pipeline_for(job.kind).record_only:  # the ack's denial
            self._audit(job, job.args.event, job.args.detail)
            return
        self._deliver(job, body, receive_count)

    def _deliver(self, job: JobEnvelope, body: str, receive_count: int) -> None:
        """The job's stages; what SQS should do when one fails (retry, or give up on the last receive)."""
        keys = job_log_keys(job)
        try:
            self._stages(job)
        except IdempotencyAlreadyInProgressError as exc:
            if receive_count < self.max_receive_count:
                raise  # not lost: it comes back after the visibility timeout, when the result is known
            self._last_receive(job, body, exc, receive_count, "a copy of it still holds its run-once record")
        except IdempotencyValidationError:  # the job id of another request: refused, never run as that one
            self._reject(body, "its job id belongs to a different request already run", receive_count)
        except GroupLookupError as exc:  # nothing stored or cached: a retry (or the next click) asks Slack again
            if receive_count == 1:
                self._group_check_failed(job, exc)
            if receive_count < self.max_receive_count:
                raise
            logger.warning("%s not run: %s (the clicker was told to try again)", job.display, exc, extra=keys)
        except Exception as exc:
            if self._slack_settled(job, body, exc, receive_count):
                return
            if receive_count < self.max_receive_count:
                logger.warning("attempt %d failed, SQS will retry: %r", receive_count, exc, extra=keys)
                raise
            self._last_receive(job, body, exc, receive_count, f"its last attempt failed: {exc!r}")

    def _last_receive(self, job: JobEnvelope, body: str, exc: Exception, receive_count: int, why: str) -> None:
        """The last receive failed. A copy holding the job's run-once record (maybe one runs, maybe its holder
        died or its store write's answer was lost), or DynamoDB, SQS or a target not answering, is no reason
        to drop the job or call it failed (its effect may be made): back on the queue, past any holder's
        deadline (then this job takes the record over). Anything else, or too many times: told, dead-lettered."""
        retryable = isinstance(exc, IdempotencyAlreadyInProgressError) or transient(exc)
        if not (retryable and self._requeue(job, why)):
            self._give_up(job, body, exc, receive_count)

    def _requeue(self, job: JobEnvelope, why: str) -> bool:
        """Put the job back on the queue with a delay (its receives start again), at most `MAX_REQUEUES` times;
        False when it may not, or cannot. The delay passes the deadline of any invocation running now (its
        run-once record's in-progress expiry; at least `REQUEUE_BASE_S`) and doubles each time (SQS: 900 s)."""
        if self.queue is None or job.requeued >= MAX_REQUEUES:
            return False
        delay = max(self._invocation_s + 1, REQUEUE_BASE_S) * 2**job.requeued
        delay = int(min(delay, self.max_delay_s, 900))
        try:
            self.queue.send(job.changed(requeued=job.requeued + 1), delay_seconds=delay)
        except Exception:
            logger.exception("%s could not be put back on the queue", job.display, extra=job_log_keys(job))
            return False
        logger.warning("%s put back on the queue in %d s: %s", job.display, delay, why, extra=job_log_keys(job))
        return True

    def _slack_settled(self, job: JobEnvelope, body: str, exc: Exception, receive_count: int) -> bool:
        """A Slack answer decides what becomes of the delivery: a rate limit defers it (the handler sends it back
        with the Retry-After, no receive spent); a refusal no retry can change is told and dead-lettered now
        (True). Anything else: False, the usual bounded retries."""
        refusal = refusal_of(exc)
        if refusal is not None and refusal.rate_limited and refusal.retry_after is not None:
            raise SlackRateLimitedError(refusal) from exc
        if refusal is None or not refusal.permanent:
            return False
        self._give_up(job, body, exc, receive_count, reason=refusal.describe())
        return True

    def _stages(self, job: JobEnvelope) -> None:
        """Run the step, deliver its message, queue the next step: each stage once per (job, step)."""
        key: dict[str, Any] = {"job_id": job.job_id, "step": job.step, "payload": request_digest(job)}
        if job.approved_by:  # a refused approval (not an approver) must not stand in for a later, valid one
            key["approved_by"] = job.approved_by
        pipeline = pipeline_for(job.kind)
        notes = _Notes()
        token = _AUDIT_NOTES.set(notes)
        try:
            self._staged(job, key, pipeline, notes)
            self._write_audit(job)
        except Exception:
            self._write_audit(job, quietly=True)  # what was asked is recorded, even if the step failed
            raise
        finally:
            _AUDIT_NOTES.reset(token)

    def _staged(self, job: JobEnvelope, key: dict[str, Any], pipeline: Pipeline, notes: _Notes) -> None:
        """The stages, their audit notes collected in `notes` (`_stages` writes them in one call)."""
        if job.step == 0 and pipeline.audited:
            self._audit(job, "request")
            if job.confirmed_by:
                self._audit(job, "confirmation", f"confirmed by {job.confirmed_by}")
        if pipeline.tracked and not self._track_running(job):
            return  # cancelled: its canceller told the requester; no step of it runs again
        ran = len(notes.items)
        stepped = self._step_and_reply(job, key, pipeline)
        if stepped is None:
            return  # a cancel won while the step ran: it tells everyone, this step says nothing
        outcome, reply = stepped
        if len(notes.items) == ran:  # the step ran in an earlier delivery: its notes come from its record
            notes.items.extend(outcome.audits)
        if outcome.waiting:
            self._next_once(key=key, job=job, outcome=outcome, progress=reply.get("progress") or {})
        elif pipeline.audited and isinstance(outcome.message, SlackMessage):  # else it told nobody
            self._audit(job, "outcome", outcome.message.text.splitlines()[0])

    def _step_and_reply(
        self, job: JobEnvelope, key: dict[str, Any], pipeline: Pipeline
    ) -> tuple[StepOutcome, dict[str, Any]] | None:
        """Run the step and deliver its message (one record for a read, else two); None if a cancel won."""
        if pipeline.reads_only:
            delivered = self._deliver_once(key=key, job=job)
            if pipeline.tracked:
                self._track_outcome(job, delivered.outcome)
            return delivered.outcome, delivered.reply
        outcome = self._run_once(key=key, job=job)
        if pipeline.tracked and not self._track_outcome(job, outcome):
            return None
        return outcome, self._reply_once(key=key, job=job, outcome=outcome)

    # -- the registry of jobs (store.jobs): a cancel is seen at each step boundary ---------------------------

    def _track_running(self, job: JobEnvelope) -> bool:
        """The job's step is about to run (before its prompt's claim, its lease or any side effect): False if
        the job was cancelled. A registry that cannot be written is logged and the step runs."""
        standing = tracking.track(self.ctx.jobs, tracking.record_of(job, "running"))
        if standing is not None and standing.state == "cancelled":
            logger.info("%s was cancelled by %s: step %d not run", job.display, standing.cancelled_by, job.step)
            return False
        return True

    def _track_outcome(self, job: JobEnvelope, outcome: StepOutcome) -> bool:
        """After the step: waiting for its next step, or finished with its message's first line. False if a
        cancel won meanwhile: the step's new state is stopped at the target, its lease released, nothing told."""
        if outcome.waiting:
            record = tracking.record_of(job, "waiting", waiting_for="next step", step_state=outcome.state)
            standing = tracking.track(self.ctx.jobs, record)
            cancelled = standing is not None and standing.state == "cancelled"
        else:
            said = outcome.message
            line = said.text.splitlines()[0] if isinstance(said, SlackMessage) and said.text else "done"
            ended = tracking.end(self.ctx.jobs, job.job_id, "finished", line)
            cancelled = ended is not None and not ended.won and ended.state == "cancelled"
        if not cancelled:
            return True
        logger.info("%s was cancelled while step %d ran: its result is not told", job.display, job.step)
        if outcome.waiting and outcome.state:
            tracking.stop_at_target(self.ctx, job, outcome.state)  # what this step started, if anything
        spec = spec_for_kind(job.kind)
        target = spec.target_of(job.args) if spec else None
        if target is not None:
            holder = self.leases.holder(target)
            if holder is not None and holder.owner_job == job.job_id:
                self.leases.release(holder)
        return False

    def _group_check_failed(self, job: JobEnvelope, exc: GroupLookupError) -> None:
        """A user group could not be listed: the person is told to try again; nothing was decided or stored."""
        logger.warning("%s not run yet: %s", job.display, exc, extra=job_log_keys(job))
        if exc.clicker is not None:
            tell_clicker(self.ctx, exc.clicker, exc.channel, messages.decision_refused(exc.action, GROUP_CHECK_FAILED))
            return
        if job.confirmed_by:
            message = messages.confirmation_refused(GROUP_CHECK_FAILED)
        else:
            message = job_messages.job_failed(job.display, job.short_id, GROUP_CHECK_FAILED)
        self.replier.send(job, message)

    def _run_and_reply(self, *, key: dict[str, Any], job: JobEnvelope) -> Delivered:
        """A job that only reads: its step and its message in one stage (a retry may run the step again, and
        its message's intent makes the repeat replace the copy that may have arrived)."""
        outcome = self._run_noted(key=key, job=job)
        return Delivered(outcome=outcome, reply=self._reply(key=key, job=job, outcome=outcome))

    def _run_noted(self, *, key: dict[str, Any], job: JobEnvelope) -> StepOutcome:
        """The step's outcome with the audit notes it made, kept for a retry that skips the step."""
        notes = _AUDIT_NOTES.get()
        made = len(notes.items) if notes is not None else 0
        outcome = self._run(key=key, job=job)
        return outcome.model_copy(update={"audits": tuple(notes.items[made:])}) if notes is not None else outcome

    def _run(self, *, key: dict[str, Any], job: JobEnvelope) -> StepOutcome:
        """Run the job's next step under its target's lease; a permanent failure becomes the answer."""
        started = time.monotonic()
        now = self.ctx.now()
        if job.continuation is None:
            self._publish(job, {QUEUE_WAIT: (now - job.issued_at).total_seconds() * 1000})
        spec = spec_for_kind(job.kind)
        outcome, detail, prompt_replaced = "succeeded", "", False
        try:
            result, prompt_replaced = self._perform(self._plan(job, spec, now), job, spec, key)
        except UnknownNameError as exc:
            outcome, detail = "UnknownName", f": {exc}"
            result = job_messages.unknown_name(job.display, job.short_id, str(exc))
        except PermanentJobError as exc:
            outcome, detail = type(exc).__name__, f": failed permanently: {exc}"
            result = exc.to_message(job)
        internal = pipeline_for(job.kind).control
        replace = job.replace_original and not prompt_replaced and (job.continuation is None or internal)
        first_ran = job.continuation.started_at if job.continuation else now
        if isinstance(result, Wait):
            logger.info("step %d of %s waits %.0f s", job.step, job.display, result.delay_s, extra=job_log_keys(job))
            footer = job_messages.step_footer(job.step, (now - first_ran).total_seconds(), job.short_id)
            return StepOutcome(
                message=_with_footer(result.progress, footer),
                started_at=first_ran,
                state=result.state.model_dump(mode="json"),
                delay_s=result.delay_s,
                replace_original=replace,
            )
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info(
            "executed %s (step %d) in %.0f ms%s", job.display, job.step, elapsed_ms, detail, extra=job_log_keys(job)
        )
        self._publish(job, {JOB_DURATION: elapsed_ms}, outcome=outcome)
        if job.continuation is not None and not internal:  # a long job's last word
            footer = job_messages.final_footer(job.requester.user_id, (now - first_ran).total_seconds(), job.short_id)
            result = _with_footer(result, footer)
        return StepOutcome(message=result, started_at=first_ran, replace_original=replace)

    def _plan(self, job: JobEnvelope, spec: CommandSpec | None, now: datetime) -> StepPlan:
        """Gather what `plan_step` needs: the confirmation claimed, the target known, the policy's verdict."""
        pipeline = pipeline_for(job.kind)
        stored = None
        if job.continuation is None and job.confirmed_by and pipeline.policy_checked:
            claim = self.ctx.decisions.claim(job.job_id, "confirmed", job.confirmed_by)
            stored = Claimed(outcome=claim.outcome, won=claim.won)
        verdict, holds = None, None
        if stored is None or stored.won:
            if spec is not None and spec.accepts is not None and spec.subject is not None:
                self.ctx.inventory.require(spec.accepts, str(getattr(job.args, spec.subject)))
            if job.continuation is None and pipeline.policy_checked:
                verdict = self._verdict(job, pipeline)
            if job.continuation is None and pipeline.lease and spec is not None:
                holds = self._holds(job, spec)
        plan = plan_step(job, spec, verdict, stored, now, holds)
        if stored is not None and not stored.won:
            logger.warning("%s not run: its prompt was %s", job.display, stored.outcome, extra=job_log_keys(job))
        return plan

    def _holds(self, job: JobEnvelope, spec: CommandSpec) -> HoldFacts | None:
        """A mutating job's target lock and environment freeze (one read), and whether `override_freeze` admits
        the requester when a freeze is there (user groups resolved)."""
        return hold_facts(self.ctx, spec, job.args, job.requester.user_id)

    def _verdict(self, job: JobEnvelope, pipeline: Pipeline) -> Verdict:
        """The policy re-checked with user groups resolved (the ack could not), and the approver's standing."""
        decision = check(job, self.ctx.inventory, self.ctx.group_members)
        approval = decision.approval if decision.allowed is True and pipeline.approval else None
        approver, admitted = job.approved_by, None
        if approval is not None and approver is not None and approver != job.requester.user_id:
            try:
                admitted = approval.could_approve(approver, self.ctx.group_members) is True
            except GroupLookupError as exc:  # told to the approver alone; the request stays open
                raise exc.clicked(approver, "approval", approval.channel) from None
        return Verdict(decision=decision, approver_admitted=admitted, contact=self.ctx.inventory.policy.contact)

    def _perform(
        self, plan: StepPlan, job: JobEnvelope, spec: CommandSpec | None, key: dict[str, Any]
    ) -> tuple[StepResult, bool]:
        """Do what the plan says; whether the prompt was replaced by "confirmed: queued"."""
        if isinstance(plan, Refuse):
            if plan.audit is not None:
                self._audit(job, *plan.audit)
            if plan.approver is not None:
                refused = plan.approver
                refuse_decision(
                    self.ctx,
                    job,
                    "approval",
                    by=refused.by,
                    prompt_id=job.job_id,
                    channel=refused.channel,
                    rule=refused.rule,
                )
            raise plan.error
        if isinstance(plan, Stop):
            with self._lease(spec, job):  # taken as its owner, and released: the job is over
                if plan.error is not None:
                    raise plan.error
                assert plan.message is not None
                return plan.message, False
        if plan.claim_approval is not None:
            claim_approval(self.ctx, job, plan.claim_approval)
        for event, detail in plan.audits:
            self._audit(job, event, detail)
        if not pipeline_for(job.kind).reads_only:
            self._write_audit(job)  # recorded before the step's side effects
        return self._under_lease(plan, job, spec, key), plan.replace_prompt

    def _under_lease(self, plan: Run, job: JobEnvelope, spec: CommandSpec | None, key: dict[str, Any]) -> StepResult:
        """The step under the target's lease, kept for the next step while the job waits."""
        with self._lease(spec, job) as held:
            if plan.replace_prompt:
                self._prompt_once(key=key, job=job)  # allowed, and the target is ours: it runs
            try:
                result = self._step(job, plan.state)
            except PermanentJobError:
                raise
            except Exception:
                if held is not None and job.continuation is not None:
                    held.keep(self.ctx.settings.poll_interval_s)  # the retry of this step takes it back
                raise
            if isinstance(result, Wait) and held is not None:
                held.keep(result.delay_s)
            return result

    def _audit(self, job: JobEnvelope, event: AuditEvent, detail: str = "") -> None:
        """Noted for the delivery's next audit write (`_write_audit`); outside a delivery's stages, written."""
        notes = _AUDIT_NOTES.get()
        if notes is not None:
            notes.items.append((event, detail))
        elif self.audit is not None:
            self.audit.record(job, event, detail)

    def _write_audit(self, job: JobEnvelope, *, quietly: bool = False) -> None:
        """The delivery's audit notes not written yet, in one call; `quietly`: a failure is only logged."""
        notes = _AUDIT_NOTES.get()
        if self.audit is None or notes is None or len(notes.items) <= notes.written:
            return
        try:
            self.audit.record_all(job, notes.items[notes.written :])
        except Exception:
            if not quietly:
                raise
            logger.exception("the audit records of %s could not be written", job.display, extra=job_log_keys(job))
            return
        notes.written = len(notes.items)

    def _step(self, job: JobEnvelope, state: StepState | None) -> StepResult:
        return run_step(job, self.ctx, state)

    def _lease(self, spec: CommandSpec | None, job: JobEnvelope) -> Any:
        target = spec.target_of(job.args) if spec else None
        if target is None:
            return contextlib.nullcontext(None)
        since = int(job.continuation.started_at.timestamp()) if job.continuation else None
        return self.leases.step(target, job, since=since)

    def _replace_prompt(self, *, key: dict[str, Any], job: JobEnvelope) -> str:
        """A confirmed job: its confirmation prompt becomes "confirmed by ..., queued" once the policy (user
        groups resolved) and the target's lease let it run, just before it does."""
        message = job_messages.confirmed(job.display, job.short_id, job.confirmed_by or job.requester.user_id)
        return self.replier.send(job, message, replace_original=True)

    def _reply(self, *, key: dict[str, Any], job: JobEnvelope, outcome: StepOutcome) -> dict[str, Any]:
        """Deliver the step's message. A one-step job answers once; a long job keeps one message updated."""
        message = outcome.message
        if isinstance(message, NothingToPost):  # a waiting expiry, a prompt that something else decided
            previous = job.continuation.progress if job.continuation else None
            return {"route": "none", "progress": previous.model_dump(mode="json") if previous else {}}
        # The message is a side effect too: an intent first; finding one, an earlier attempt may have
        # delivered it (a timeout after sending, a crash before this stage saved), so it replaces that copy.
        # An answer that replaces its prompt anyway needs none: a repeat replaces the same message again.
        one_answer = (job.continuation is None or pipeline_for(job.kind).control) and not outcome.waiting
        again = not (one_answer and outcome.replace_original) and (
            self.ctx.intents.write(Intent(job_id=job.job_id, step=job.step, name="reply")) is not None
        )
        if one_answer:
            # A notice or settle replaces the prompt it answers; a confirmed job replaces its prompt when it
            # was refused before it could run (denied by the policy, target busy, prompt already decided).
            route = self.replier.send(job, message, replace_original=outcome.replace_original, again=again)
            logger.info("answered via %s", route, extra=job_log_keys(job))
            return {"route": route}
        previous = job.continuation.progress if job.continuation else None
        # A job picked from a picker replaces the picker with its first message, as its answer would.
        handle = self.replier.publish(job, message, previous, again=again, replace_first=outcome.replace_original)
        logger.info("step %d shown (final: %s)", job.step, message.final, extra=job_log_keys(job))
        return {"route": "progress", "progress": handle.model_dump(mode="json")}

    def _next(self, *, key: dict[str, Any], job: JobEnvelope, outcome: StepOutcome, progress: dict[str, Any]) -> str:
        """Queue the job's next step with its state, after the step's delay (SQS allows 0..900 s)."""
        if self.queue is None:
            raise ContinuationError("this worker has no queue to continue long jobs on")
        assert outcome.state is not None
        continuation = Continuation(
            step=job.step + 1,
            state=outcome.state,
            started_at=outcome.started_at,
            progress=ProgressHandle.model_validate(progress),
        )
        delay = int(min(max(outcome.delay_s, 0), self.max_delay_s, 900))
        message_id = self.queue.send(job.continued(continuation), delay_seconds=delay)
        logger.info("step %d queued in %d s", job.step + 1, delay, extra=job_log_keys(job))
        return message_id

    def _give_up(
        self, job: JobEnvelope, body: str, exc: Exception, attempts: int, *, reason: str | None = None
    ) -> None:
        """Last allowed receive (or a refusal no retry can change): tell the requester, then dead-letter the
        job with the reason (`reason`: Slack's refusal, named)."""
        reason = (reason or f"{type(exc).__name__}: {exc}")[:300]
        try:
            done = [intent.what for intent in self.ctx.intents.made(job.job_id, job.step)]
        except Exception:  # the store may be what failed: told without it
            logger.exception("the intents of %s could not be read", job.display, extra=job_log_keys(job))
            done = []
        try:
            # The last word: through the response_url it replaces the job's last message; a 5xx there is not
            # taken for "maybe posted" (a copy that may be a second one rather than none).
            self.replier.send(job, job_messages.gave_up(job.display, job.short_id, attempts, reason, done), again=True)
        except Exception as notify_exc:
            reason += f" (the requester could not be told: {notify_exc!r})"[:300]
        logger.error("giving up after %d attempts: %s", attempts, reason, extra=job_log_keys(job))
        self._settle_given_up(job)
        self._end_quietly(job, f"failed after {attempts} attempts: {reason}")
        self._publish(job, {}, outcome="gave_up")
        if self.dead_letters is None:
            raise exc  # the queue's redrive policy moves it on the next receive
        self.dead_letters.put(body, reason=reason, attempts=attempts)

    def _settle_given_up(self, job: JobEnvelope) -> None:
        """An approval request given up (never posted): its prompt is decided as refused, so its expiry, an hour
        on, finds it decided and says nothing (the requester was told it failed), and a late Approve runs
        nothing."""
        if not isinstance(job.args, ApprovalRequestArgs):
            return
        try:
            self.ctx.decisions.claim(job.args.job_id or job.job_id, "refused")
        except Exception:
            logger.exception("the approval request of %s could not be settled", job.display, extra=job_log_keys(job))

    def _end_quietly(self, job: JobEnvelope, outcome: str) -> None:
        """A job given up: not left "running" in /ops-jobs, nor holding its target's lease, until they expire."""
        try:
            if pipeline_for(job.kind).tracked:
                tracking.end(self.ctx.jobs, job.job_id, "finished", outcome)
            spec = spec_for_kind(job.kind)
            target = spec.target_of(job.args) if spec else None
            holder = self.leases.holder(target) if target is not None else None
            if holder is not None and holder.owner_job == job.job_id:
                self.leases.release(holder)
        except Exception:
            logger.exception(
                "%s: its registry record or lease could not be ended", job.display, extra=job_log_keys(job)
            )

    def _reject(self, body: str, reason: str, attempts: int) -> None:
        """A poison message goes to the DLQ at once; the requester is told when the envelope says who."""
        target = reply_target_of(body)
        logger.error("rejecting a message that is not a job: %s", reason, extra=job_log_keys(target))
        if target is not None:
            try:
                self.replier.send(target, job_messages.rejected(target.display, target.short_id, reason))
            except Exception as exc:
                reason += f" (the requester could not be told: {exc!r})"
        if self.dead_letters is None:
            raise JobFormatError(reason)
        self.dead_letters.put(body, reason=reason, attempts=attempts)

    def _publish(self, job: ReplyTarget, timings_ms: dict[str, float], *, outcome: str | None = None) -> None:
        """Publish the job's metrics by command (and outcome): each job is its own EMF set."""
        kind = getattr(job, "kind", None)
        if self.metrics is None or (kind is not None and not pipeline_for(kind).measured):  # a timer, say
            return
        self.metrics.add_dimension(name=COMMAND_DIMENSION, value=job.command or "unknown")
        for name, value in timings_ms.items():
            self.metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
        if outcome is not None:
            self.metrics.add_dimension(name=OUTCOME_DIMENSION, value=outcome)
            self.metrics.add_metric(name=JOB_OUTCOME, unit=MetricUnit.Count, value=1)
        publish(self.metrics)


def _with_footer(said: Said, footer: str) -> Said:
    return blockkit.with_footer(said, footer) if isinstance(said, SlackMessage) else said
