"""A runbook's state waits for a person: its task token came on the jobs queue (the state sent it, see
docs/runbooks.md). The waiting state is remembered first (its token, who ran the runbook, who may answer and until
when: a decision record, `Decisions.open_task`), then asked about with Approve / Reject in the runbook's approval
channel, or where it was run (posted once: `_post_once`). The answer is `runbook_answer`'s.

Then this job waits (queue delays, as a prompt's expiry does) until the answer's time has run out: if nobody
answered, it claims the state's decision as expired and fails the state (SendTaskFailure `opsbot.Expired`, with the
cause), so the execution ends then rather than at its state's TimeoutSeconds, and the run's own job tells its
requester how it ended. An answer that came first leaves nothing to do.

A token for a job opsbot does not know, or one that has ended, is answered with SendTaskFailure (the execution
would otherwise wait for nobody); a token Step Functions no longer takes (the execution was stopped, the state timed
out) is left alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import blockkit
from shared.blockkit import SlackMessage
from shared.commands.control import RunbookTaskArgs
from shared.jobs import JobEnvelope
from shared.runbooks import EXPIRED_ERROR, STEP_APPROVE_ACTION, STEP_REJECT_ACTION, prompt_id_of
from worker_function.control._post_once import post_prompt_once
from worker_function.operations import OperationContext, StepResult, StepState, Wait
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.operations.run import runbook_place
from worker_function.outcomes import NothingToPost
from worker_function.store.decisions import Decision
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)

#: What Step Functions answers for a token it no longer takes.
GONE = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})


class State(StepState):
    """The waiting state asked about: until when it takes an answer."""

    runbook: str
    answer_by: int
    #: The runbook's approval_minutes when it was asked (what the people were told).
    minutes: int


def ask(args: RunbookTaskArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    record = ctx.jobs.get(args.job_id)
    book = ctx.inventory.runbooks.get(record.subject) if record is not None else None
    if record is None or book is None or not record.active:
        why = "no such opsbot job" if record is None or book is None else f"its job {record.state}"
        clients = runbook_place(ctx, record.subject, job)[1] if record is not None and book is not None else ctx.aws
        intent = ctx.intent(job, "sfn-task-failure", f"fail the waiting state {args.state}: {why}")
        ctx.effect(
            FailTask(clients.client("stepfunctions"), args.token, "opsbot.NoSuchJob", f"nobody to ask: {why}", intent)
        )
        return NothingToPost(reason=f"task token of job {args.job_id[:8]}: {why}")
    prompt_id = prompt_id_of(args.token)
    answer_by = int(ctx.now().timestamp()) + book.approval_minutes * 60
    ctx.decisions.open_task(
        prompt_id,
        args.token,
        requester=record.requester,
        answer_by=answer_by,
        approvers=book.approvers,
        rule=f"runbook:{record.subject}:{args.job_id}",
    )
    channel = book.approval_channel or record.channel
    prompt = step_prompt(record.display, record.requester, args, book.approvers, prompt_id, answer_by)
    where, ts = post_prompt_once(ctx, job, "step-prompt-post", channel, prompt, step_marker(prompt_id))
    ctx.decisions.open(
        prompt_id,
        where,
        ts,
        approvers=book.approvers,
        rule=f"runbook:{record.subject}:{args.job_id}",
    )
    return Wait(
        progress=NothingToPost(reason=f"asked about state {args.state} of job {args.job_id[:8]} in {channel}"),
        state=State(
            runbook=record.subject,
            answer_by=answer_by,
            minutes=book.approval_minutes,
            summary=f"{args.state} waits for an answer",
        ),
        delay_s=book.approval_minutes * 60,
    )


def expire(args: RunbookTaskArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> StepResult:
    """Nobody answered in time (unless someone did first): the waiting state fails with `EXPIRED_ERROR`."""
    prompt_id = prompt_id_of(args.token)
    wait = state.answer_by - ctx.now().timestamp()
    if wait > 0:
        record = ctx.decisions.get(prompt_id)
        if record is not None and record.outcome:
            return NothingToPost(reason=f"step {prompt_id} was {record.outcome} in time")
        return Wait(progress=NothingToPost(reason="the step's time has not come"), state=state, delay_s=math.ceil(wait))
    decided = ctx.decisions.claim(prompt_id, "expired")
    if decided.outcome != "expired":
        return NothingToPost(reason=f"step {prompt_id} was {decided.outcome} in time")
    minutes = state.minutes
    _, clients = runbook_place(ctx, state.runbook, job)
    intent = ctx.intent(job, "sfn-task-failure", f"expire the waiting state {args.state}")
    cause = f"nobody answered {args.state!r} within {minutes} min (opsbot's approval_minutes)"
    sent = ctx.effect(FailTask(clients.client("stepfunctions"), args.token, EXPIRED_ERROR, cause, intent))
    if decided.won:
        record = ctx.decisions.get(prompt_id)
        if record is not None:
            update_step_message(ctx, record, expired_text(minutes, sent))
    return NothingToPost(reason=f"step {prompt_id} expired" + ("" if sent else " (Step Functions had ended it)"))


def expired_text(minutes: int, sent: bool) -> str:
    """The waiting state's message once its time ran out (without its buttons)."""
    if not sent:
        return ":hourglass: This runbook step was not answered in time; its execution no longer waited for it."
    return (
        f":hourglass: Nobody answered within {minutes} min: the runbook's step fails ({EXPIRED_ERROR}); "
        "the run's message says how it ended."
    )


def update_step_message(ctx: OperationContext, record: Decision, text: str) -> None:
    """The waiting state's message says how it was decided (its buttons gone)."""
    if not record.channel or not record.ts:
        return
    try:
        ctx.slack.chat_update(
            channel=record.channel,
            ts=record.ts,
            text=text,
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        )
    except Exception:  # the decision stands; only the message keeps its buttons
        logger.exception("could not update the runbook step's message")


def step_prompt(
    display: str, requester: str, args: RunbookTaskArgs, approvers: list[str], prompt_id: str, answer_by: int
) -> SlackMessage:
    who = ", ".join(blockkit.mention(a) for a in approvers[:10]) if approvers else "anyone"
    ask = f"\n>{blockkit.escape(blockkit.shorten(args.ask, 500))}" if args.ask else ""
    text = (
        f":raising_hand: {blockkit.echo(display)} run by {blockkit.mention(requester)} waits at "
        f"*{blockkit.escape(blockkit.shorten(args.state, 80))}* (job `{args.job_id[:8]}`).{ask}\n"
        f"Who may answer: {who}, not the one who ran it; until <!date^{answer_by}^{{time}}|{answer_by}>."
    )
    buttons = [
        _button(STEP_APPROVE_ACTION, "Approve", prompt_id, "primary"),
        _button(STEP_REJECT_ACTION, "Reject", prompt_id, "danger"),
    ]
    return SlackMessage(
        text=text[:3000],
        blocks=[
            {"type": "section", "block_id": step_marker(prompt_id), "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "block_id": "opsbot_step", "elements": buttons},
        ],
        response_type="in_channel",
    )


def step_marker(prompt_id: str) -> str:
    """The first block id of a waiting state's prompt: how a retry finds it in the channel."""
    return f"opsbot_step_prompt_{prompt_id[:64]}"


def _button(action_id: str, label: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
        "style": style,
    }


def gone(exc: ClientError) -> bool:
    """Step Functions no longer takes the token: answered already, timed out, or its execution ended."""
    return str(exc.response.get("Error", {}).get("Code", "")) in GONE


@dataclass(frozen=True)
class FailTask:
    """SendTaskFailure with a waiting state's token. A token takes one answer: a second is refused (InvalidToken,
    TaskTimedOut), which is read as answered, so a retry may call again (nothing else to reconcile against)."""

    sfn: Any
    token: str
    error: str
    cause: str
    intent: Intent

    def call(self, intent: Intent) -> bool:
        try:
            self.sfn.send_task_failure(taskToken=self.token, error=self.error, cause=self.cause[:256])
        except ClientError as exc:
            if not gone(exc):
                raise
            logger.info("task token no longer taken: %s", exc)
            return False
        return True

    def reconcile(self, intent: Intent) -> None:
        return None

    def assumed(self, intent: Intent) -> bool:
        raise AssertionError("reconcile never answers unknowable")


class RunbookTaskOperation:
    """The operation of `runbook_task` (see the module's docstring)."""

    state = State
    effects = (FailTask,)
    permissions: tuple[Grant, ...] = (Grant(("states:SendTaskFailure",), on="state_machine"),)

    def run(self, args: RunbookTaskArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        return ask(args, job, ctx)

    def resume(self, args: RunbookTaskArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> StepResult:
        return expire(args, job, ctx, state)


OPERATION: Resumable[RunbookTaskArgs, Any] = RunbookTaskOperation()
