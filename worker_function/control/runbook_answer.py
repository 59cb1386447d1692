"""Approve or Reject on a runbook's waiting state (`runbook_task`): the clicker is checked against the state's
record (not the one who ran the runbook, for Approve; one of its approvers, user groups resolved; before its time
ran out), the answer claimed (one per waiting state: a second click, or another person's, loses and is told who
answered), then sent once: SendTaskSuccess or SendTaskFailure with the state's token. A retry after a crash (or the
SDK's resend after an answer lost on the wire) sends it again; Step Functions takes a token's answer once and
refuses the next (TaskTimedOut, InvalidToken). Whether the refused answer is this one, taken by an earlier attempt,
is read in the execution's history: the answer names its waiting state (`{"approved_by": ..., "step": <prompt
id>}`, or the cause of a Reject), so it is told apart from a state that timed out or an execution that ended
meanwhile (too late).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import blockkit
from shared.commands.control import RunbookAnswerArgs
from shared.jobs import JobEnvelope
from shared.runbooks import REJECTED_ERROR, execution_arn, execution_name
from worker_function.control.runbook_task import gone, update_step_message
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.operations.run import runbook_place
from worker_function.outcomes import NothingToPost
from worker_function.store.decisions import Decision
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)

#: History pages (of 200 events, newest first) read to find whether a refused answer was this one.
HISTORY_PAGES = 5


def answer(args: RunbookAnswerArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
    clicker = job.requester.user_id
    record = ctx.decisions.get(args.prompt_id)
    if record is None or not record.token:
        return _tell(ctx, job, "this is not a waiting runbook step opsbot knows (or it is older than two days).")
    approve = args.answer == "approve"
    if approve and clicker == record.requester:
        return _tell(ctx, job, "you ran this runbook: a second person approves its step (you may Reject it).")
    if not _may_answer(ctx, clicker, record):
        return _tell(ctx, job, "you are not one of the people who may answer this runbook step.")
    if not record.outcome and int(ctx.now().timestamp()) > record.answer_by:
        # Decided as expired here too (no later click wins); the waiting state's own job fails it at Step Functions
        # and updates its message (`runbook_task.expire`).
        ctx.decisions.claim(args.prompt_id, "expired")
        return _tell(ctx, job, "this runbook step's time to answer has run out.")
    decided = ctx.decisions.claim(args.prompt_id, "approved" if approve else "rejected", by=clicker)
    if not decided.won:
        by = f" by {blockkit.mention(decided.by)}" if decided.by else ""
        return _tell(ctx, job, f"this runbook step was already {decided.outcome}{by}.")
    intent = ctx.intent(job, "sfn-task-answer", f"{args.answer} runbook step {args.prompt_id}")
    name, run_job = _where(record)
    machine, clients = runbook_place(ctx, name, job)
    execution = execution_arn(machine, execution_name(run_job)) if machine and run_job else None
    sfn = clients.client("stepfunctions")
    if not ctx.effect(AnswerTask(sfn, record.token, approve, clicker, args.prompt_id, execution, intent)):
        status = _execution_status(sfn, execution)
        ended = f"the execution {status}" if status != "RUNNING" else "the step no longer waited (it timed out)"
        _update(ctx, record, f":warning: Answered by {blockkit.mention(clicker)} too late: {ended}.")
        return _tell(ctx, job, f"too late: {ended}; nothing was sent.")
    icon, word = (":white_check_mark:", "Approved") if approve else (":x:", "Rejected")
    _update(
        ctx,
        record,
        f"{icon} {word} by {blockkit.mention(clicker)}: the runbook goes on."
        if approve
        else f"{icon} {word} by {blockkit.mention(clicker)}: the runbook's step fails ({REJECTED_ERROR}).",
    )
    return NothingToPost(reason=f"step {args.prompt_id} {word.lower()} by {clicker}")


@dataclass(frozen=True)
class AnswerTask:
    """SendTaskSuccess (Approve) or SendTaskFailure (Reject) with the waiting state's token: True when Step
    Functions took this answer (now, or an earlier attempt whose reply was lost: its history says so), False when
    it no longer takes the token and the answer is not this one (the state timed out, the execution ended)."""

    sfn: Any
    token: str
    approve: bool
    by: str
    #: The waiting state's prompt id: named in the answer, so the history tells this answer from another.
    step: str
    #: The execution the state belongs to (None: unknown to opsbot; a refused answer is then too late).
    execution: str | None
    intent: Intent

    def call(self, intent: Intent) -> bool:
        try:
            if self.approve:
                self.sfn.send_task_success(taskToken=self.token, output=step_output(self.by, self.step))
            else:
                self.sfn.send_task_failure(
                    taskToken=self.token, error=REJECTED_ERROR, cause=step_cause(self.by, self.step)
                )
        except ClientError as exc:
            if not gone(exc):
                raise
            return self.taken()
        return True

    def taken(self) -> bool:
        """Whether the execution's history holds this answer (Step Functions refused it as a second one)."""
        if self.execution is None:
            return False
        for event in self._latest_events():
            if self.approve and event.get("type") == "TaskSucceeded":
                output = (event.get("taskSucceededEventDetails") or {}).get("output") or ""
                if _names_step(output, self.step):
                    return True
            if not self.approve and event.get("type") == "TaskFailed":
                details = event.get("taskFailedEventDetails") or {}
                if details.get("error") == REJECTED_ERROR and self.step in str(details.get("cause") or ""):
                    return True
        return False

    def _latest_events(self) -> Iterator[dict[str, Any]]:
        """The execution's history, newest first (an answer just refused is near its end), a bounded number of
        pages."""
        token: str | None = None
        for _ in range(HISTORY_PAGES):
            page = self.sfn.get_execution_history(
                executionArn=self.execution,
                reverseOrder=True,
                includeExecutionData=True,
                maxResults=200,
                **({"nextToken": token} if token else {}),
            )
            yield from page.get("events") or []
            token = page.get("nextToken")
            if not token:
                return

    def reconcile(self, intent: Intent) -> None:
        return None

    def assumed(self, intent: Intent) -> bool:
        raise AssertionError("reconcile never answers unknowable")


def step_output(by: str, step: str) -> str:
    """What an Approve answers a waiting state with (its `ResultPath` gets it)."""
    return json.dumps({"approved_by": by, "step": step})


def step_cause(by: str, step: str) -> str:
    """The cause of a Reject's SendTaskFailure (error `opsbot.Rejected`)."""
    return f"rejected by {by} ({step})"


def _names_step(output: str, step: str) -> bool:
    try:
        document = json.loads(output)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("step") == step


class RunbookAnswerOperation:
    """The operation of `runbook_answer` (see the module's docstring)."""

    effects = (AnswerTask,)
    permissions: tuple[Grant, ...] = (
        Grant(("states:SendTaskSuccess", "states:SendTaskFailure"), on="state_machine"),
        Grant(("states:DescribeExecution", "states:GetExecutionHistory"), on="execution"),
    )

    def run(self, args: RunbookAnswerArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
        return answer(args, job, ctx)


OPERATION: Operation[RunbookAnswerArgs] = RunbookAnswerOperation()


def _may_answer(ctx: OperationContext, clicker: str, record: Decision) -> bool:
    if not record.approvers:
        return True
    for approver in record.approvers:
        if approver == clicker:
            return True
        if approver.startswith("S") and clicker in (ctx.group_members(approver) or frozenset()):
            return True
    return False


def _where(record: Decision) -> tuple[str, str]:
    """The runbook and the `/ops-run` job a waiting state belongs to (`runbook:<name>:<job id>`, its rule)."""
    _, name, job_id = [*record.rule.split(":", 2), "", ""][:3]
    return name, job_id


def _execution_status(sfn: Any, execution: str | None) -> str:
    """The execution's status, as Step Functions says now."""
    if execution is None:
        return "is unknown to opsbot"
    try:
        found = sfn.describe_execution(executionArn=execution)
    except ClientError:
        return "cannot be read"
    return str(found.get("status", "?"))


def _update(ctx: OperationContext, record: Decision, text: str) -> None:
    update_step_message(ctx, record, text)


def _tell(ctx: OperationContext, job: JobEnvelope, text: str) -> NothingToPost:
    requester = job.requester
    ctx.slack.chat_postEphemeral(channel=requester.channel_id, user=requester.user_id, text=f":no_entry: {text}")
    return NothingToPost(reason=text)
