"""The worker's edge for jobs: one queue message in, its walk down the executor's stages (`pipeline`), and what
SQS should do when the walk fails: retry it, put it back later, or tell the requester and dead-letter it.

Returning from `handle_record` means "delete the message"; raising means "deliver it again". A poison message
(not a job) and a refusal no retry can change (a Slack refusal, a job id of another request) are told and
dead-lettered at once; a user group Slack could not list is told to whoever clicked and retried; anything else
is retried up to the queue's receive count, then told and dead-lettered, unless it is transient (or another copy
still holds the job's run-once record): then it goes back on the queue, past any holder's deadline.

Prompts: a confirmed job (and an approved one) first claims its prompt's decision (`store.decisions`), so that
exactly one of confirmed / cancelled / approved / rejected / expired wins; a job that lost does not run. An
approved job whose approver turns out not to be one (a user group the ack could not resolve) is refused to the
approver alone, ephemerally in the approvals channel, and audited as a denial; nothing is decided and the
requester is not told: the request stays open for a real approver. A user group Slack could not list just now is
not a refusal: the clicker is told to try again, and the delivery fails so SQS retries it; a job's own check
(its requester's group) is retried silently, and only its last receive tells the requester to try again (one
final answer either way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import ValidationError

from shared import messages
from shared.blockkit import SlackMessage, echo, escape, shorten, simple
from shared.commands import ApprovalRequestArgs, AuditNoteArgs, SettleArgs, pipeline_for
from shared.errors import JobFormatError
from shared.jobs import JobEnvelope, reply_target_of, utcnow
from shared.observability import job_log_keys
from shared.runbooks import TaskMessage, task_job
from shared.settings import WORKER_TIMEOUT_SECONDS
from worker_function import job_messages
from worker_function.errors import GROUP_CHECK_FAILED, GroupLookupError, transient
from worker_function.operations import GroupResolver, OperationContext
from worker_function.operations.registry import operation_for
from worker_function.pipeline import Executor
from worker_function.prompts import tell_clicker
from worker_function.reply import SlackReplier
from worker_function.requeues import Requeues
from worker_function.slack_errors import SlackRateLimitedError, refusal_of
from worker_function.stages import metrics, registry
from worker_function.store import AuditTrail, DeadLetterQueue, Leases
from worker_function.walk import DelayedJobQueue, Services

logger = logging.getLogger(__name__)

#: What a re-queue did: the job certainly is on the queue again, may be (SQS's answer was lost: a 5xx, a
#: connection closed after sending), or certainly is not.
Requeued = Literal["queued", "maybe", "not"]


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
        operations: Callable[[str], Any] = operation_for,
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
        #: When a last receive puts the job back (the alarm feed shares it: `app.build_alarm_feed`).
        self.requeues = Requeues(max_receive_count, max_delay_s=max_delay_s)
        self.services = Services(
            ctx=ctx,
            replier=replier,
            leases=leases,
            audit=audit,
            metrics=metrics,
            queue=queue,
            max_delay_s=max_delay_s,
            operation_of=operations,
        )
        self.executor = Executor(self.services, run_store=run_store, reply_store=reply_store, idempotency=idempotency)

    @property
    def groups(self) -> GroupResolver:
        """The worker's user-group cache, shared with the operations (`OperationContext.groups`)."""
        return self.ctx.groups

    def start_invocation(self, lambda_context: Any) -> None:
        """An INPROGRESS record of this invocation expires with it, so a timeout never blocks a retry."""
        self._idempotency.register_lambda_context(lambda_context)
        remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
        self.requeues.invocation_s = remaining() / 1000 if callable(remaining) else float(WORKER_TIMEOUT_SECONDS)

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
            if self.audit is not None:
                self.audit.record(job, job.args.event, job.args.detail)
            return
        self._deliver(job, body, receive_count)

    def _deliver(self, job: JobEnvelope, body: str, receive_count: int) -> None:
        """The job's stages; what SQS should do when one fails (retry, or give up on the last receive)."""
        keys = job_log_keys(job)
        last = self.requeues.last(receive_count) and not job.successor
        successor: Requeued = self._successor(job) if last else "not"
        try:
            self.executor.walk(job)
        except IdempotencyAlreadyInProgressError as exc:
            if receive_count < self.max_receive_count:
                raise  # not lost: it comes back after the visibility timeout, when the result is known
            why = "a copy of it still holds its run-once record"
            self._last_receive(job, body, exc, receive_count, why, successor=successor)
        except IdempotencyValidationError:  # the job id of another request: refused, never run as that one
            self._reject(body, "its job id belongs to a different request already run", receive_count)
        except GroupLookupError as exc:  # nothing stored or cached: a retry (or the next click) asks Slack again
            self._group_lookup_failed(job, exc, receive_count)
            if successor != "not" and exc.clicker is None:  # told "try again": its ending, where its successor stops
                registry.end_quietly(self.services, job, receive_count, str(exc))
        except Exception as exc:
            if self._slack_settled(job, body, exc, receive_count, copy_may_run=successor != "not"):
                return
            if receive_count < self.max_receive_count:
                logger.warning("attempt %d failed, SQS will retry: %r", receive_count, exc, extra=keys)
                raise
            why = f"its last attempt failed: {exc!r}"
            self._last_receive(job, body, exc, receive_count, why, successor=successor)

    def _successor(self, job: JobEnvelope) -> Requeued:
        """On a job's last receive, before its walk: a successor on the queue, delayed past this invocation's
        deadline (`_requeue`), so that a Lambda that dies now (a timeout, a crash: no code runs to tell anyone, and
        SQS would dead-letter the job silently) is followed by one that takes the job over. If this attempt ends
        the job, the successor finds it ended: its step's records kept, or the give-up (`GivenUp`, in the registry
        for every job, tracked or not), and says nothing. Whether one was queued."""
        return self._requeue(job, "its last receive: a successor takes over if this attempt dies", successor=True)

    def _last_receive(
        self, job: JobEnvelope, body: str, exc: Exception, receive_count: int, why: str, *, successor: Requeued = "not"
    ) -> None:
        """The last receive failed. A copy holding the job's run-once record (maybe one runs, maybe its holder
        died or its store write's answer was lost), or DynamoDB, SQS or a target not answering, is no reason
        to drop the job or call it failed (its effect may be made): back on the queue, past any holder's
        deadline (then this job takes the record over); the successor queued before the walk is that copy.
        Anything else, or too many times: told, dead-lettered (a successor finds it given up). A successor or a
        re-queue that may be on the queue (SQS's answer lost) is a copy that may run: see `_give_up`."""
        retryable = isinstance(exc, IdempotencyAlreadyInProgressError) or transient(exc)
        if retryable and successor == "queued":
            logger.warning("%s: its successor takes over: %s", job.display, why, extra=job_log_keys(job))
            return
        requeued: Requeued = self._requeue(job, why) if retryable else "not"
        if requeued != "queued":
            copy_may_run = successor != "not" or requeued == "maybe"
            self._give_up(job, body, exc, receive_count, copy_may_run=copy_may_run)

    def _requeue(self, job: JobEnvelope, why: str, *, successor: bool = False) -> Requeued:
        """Put the job back on the queue with a delay (its receives start again; `Requeues.delay`: past any
        invocation's deadline, growing, bounded); "not" when it may not, or cannot; "maybe" when SQS's answer was
        lost (it may hold the copy)."""
        delay = self.requeues.delay(job.requeued)
        if self.queue is None or delay is None:
            return "not"
        try:
            self.queue.send(
                job.changed(requeued=job.requeued + 1, successor=job.successor or successor), delay_seconds=delay
            )
        except Exception as exc:
            maybe = bool(getattr(exc, "maybe_queued", False))
            logger.exception(
                "%s could not be put back on the queue%s",
                job.display,
                " (it may be there: SQS's answer was lost)" if maybe else "",
                extra=job_log_keys(job),
            )
            return "maybe" if maybe else "not"
        logger.warning("%s put back on the queue in %d s: %s", job.display, delay, why, extra=job_log_keys(job))
        return "queued"

    def _slack_settled(
        self, job: JobEnvelope, body: str, exc: Exception, receive_count: int, *, copy_may_run: bool = False
    ) -> bool:
        """A Slack answer decides what becomes of the delivery: a rate limit defers it (the handler sends it back
        with the Retry-After, no receive spent); a refusal no retry can change is told and dead-lettered now
        (True). Anything else: False, the usual bounded retries."""
        refusal = refusal_of(exc)
        if refusal is not None and refusal.rate_limited and refusal.retry_after is not None:
            raise SlackRateLimitedError(refusal) from exc
        if refusal is None or not refusal.permanent:
            return False
        self._give_up(job, body, exc, receive_count, reason=refusal.describe(), copy_may_run=copy_may_run)
        return True

    def _group_lookup_failed(self, job: JobEnvelope, exc: GroupLookupError, receive_count: int) -> None:
        """Raises while receives are left (SQS retries): a clicker is told at once (they may click again), a
        requester hears nothing yet (the retry's answer is their one answer) and only on the last receive."""
        if exc.clicker is not None and receive_count == 1:
            self._group_check_failed(job, exc)
        if receive_count < self.max_receive_count:
            raise exc
        if exc.clicker is None:
            self._group_check_failed(job, exc)  # the last receive: told once, not run
        logger.warning("%s not run: %s (told to try again)", job.display, exc, extra=job_log_keys(job))

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

    def _give_up(
        self,
        job: JobEnvelope,
        body: str,
        exc: Exception,
        attempts: int,
        *,
        reason: str | None = None,
        copy_may_run: bool = False,
    ) -> None:
        """Last allowed receive (or a refusal no retry can change): tell the requester, then dead-letter the
        job with the reason (`reason`: Slack's refusal, named). `copy_may_run`: the job's successor or a re-queue is
        (or may be) on the queue; only the give-up's mark in the registry (`GivenUp`) stops it, so the mark is
        written first, and when it cannot be (DynamoDB failing too) the copy takes the job over and this attempt
        tells nothing ("failed" followed by the copy's "completed" would be two endings, and a requester told
        "failed" may run it again): it fails as a killed attempt would, and SQS's redrive moves it to the DLQ
        (where a successor's own give-up expects it)."""
        reason = (reason or f"{type(exc).__name__}: {exc}")[:300]
        if self._settle_given_up(job):
            # A prompt's expiry (or approval request) whose prompt was decided meanwhile: the decision has its own
            # answer (the job confirmed ran and told its own ending); a "failed" here would be a second one.
            logger.warning(
                "%s given up, moot: its prompt was decided: %s", job.display, reason, extra=job_log_keys(job)
            )
            registry.end_quietly(self.services, job, attempts, reason)
            return
        marked = copy_may_run
        if marked and not registry.end_quietly(self.services, job, attempts, reason):
            logger.error(
                "%s not given up: a copy of it may be on the queue and the registry could not be told to stop it; "
                "the copy takes the job over, this one goes to the DLQ by SQS's redrive: %s",
                job.display,
                reason,
                extra=job_log_keys(job),
            )
            raise exc
        try:
            done = [intent.what for intent in self.ctx.intents.made(job.job_id, job.step)]
        except Exception:  # the store may be what failed: told without it
            logger.exception("the intents of %s could not be read", job.display, extra=job_log_keys(job))
            done = []
        try:
            # The last word: through the response_url it replaces the job's last message; an answer there that
            # may have arrived (5xx) is followed by a channel post, as no retry follows (a possible second copy
            # rather than none). Not `again`: no attempt sent this message.
            message = gave_up(job.display, job.short_id, attempts, reason, done)
            self.replier.send(job, message, replace_original=True, last_word=True)
        except Exception as notify_exc:
            reason += f" (the requester could not be told: {notify_exc!r})"[:300]
        logger.error("giving up after %d attempts: %s", attempts, reason, extra=job_log_keys(job))
        if not marked:
            registry.end_quietly(self.services, job, attempts, reason)
        metrics.emit(self.metrics, job, {}, outcome="gave_up")
        if job.successor:  # the copy it follows is in the dead-letter queue already (given up, or redriven by SQS)
            return
        if self.dead_letters is None:
            raise exc  # the queue's redrive policy moves it on the next receive
        self.dead_letters.put(body, reason=reason, attempts=attempts)

    def _settle_given_up(self, job: JobEnvelope) -> bool:
        """An approval request given up (never posted): its prompt is decided as refused, so its expiry, an hour
        on, finds it decided and says nothing (the requester is told it failed), and a late Approve runs
        nothing. A prompt's expiry given up (its wait's next step maybe queued: SQS's answer lost) decides its
        prompt as refused too, so a copy of it that arrives later finds it decided and says nothing. True when
        the prompt had been decided otherwise already (confirmed, approved, cancelled): the give-up is moot."""
        if isinstance(job.args, ApprovalRequestArgs):
            prompt_id = job.args.job_id or job.job_id
        elif isinstance(job.args, SettleArgs) and job.args.outcome == "expired":
            prompt_id = job.args.prompt_id
        else:
            return False
        try:
            decision = self.ctx.decisions.claim(prompt_id, "refused")
        except Exception:
            logger.exception("the approval request of %s could not be settled", job.display, extra=job_log_keys(job))
            return False
        return not decision.won and decision.outcome != "refused"

    def _reject(self, body: str, reason: str, attempts: int) -> None:
        """A poison message goes to the DLQ at once; the requester is told when the envelope says who."""
        target = reply_target_of(body)
        logger.error("rejecting a message that is not a job: %s", reason, extra=job_log_keys(target))
        if target is not None:
            try:
                self.replier.send(target, rejected(target.display, target.short_id, reason))
            except Exception as exc:
                reason += f" (the requester could not be told: {exc!r})"
        if self.dead_letters is None:
            raise JobFormatError(reason)
        self.dead_letters.put(body, reason=reason, attempts=attempts)


def gave_up(display: str, short_id: str, attempts: int, reason: str, done: Sequence[str] = ()) -> SlackMessage:
    """`done`: what the job made, or may have made, before it failed (its intents): said, so nobody assumes
    nothing happened."""
    made = ""
    if done:
        listed = "; ".join(escape(shorten(what, 200)) for what in list(done)[:5])
        made = f"\nBefore it failed it made, or may have made: {listed}. Look at the target before running it again."
    return simple(
        f":x: {echo(display)} failed after {attempts} attempt{'s' if attempts != 1 else ''} (job `{short_id}`): "
        f"{escape(shorten(reason, 1500))}{made}",
        "The job is in the dead-letter queue; `opsbot dlq redrive` runs it again.",
    )


def rejected(display: str, short_id: str, reason: str) -> SlackMessage:
    return simple(
        f":x: {echo(display)} could not be run (job `{short_id}`): {escape(shorten(reason, 1500))}",
        "The message is in the dead-letter queue for an operator to look at.",
    )
