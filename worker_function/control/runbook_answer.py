"""Approve or Reject on a runbook's waiting state (`runbook_task`): the clicker is checked against the state's
record (not the one who ran the runbook, for Approve; one of its approvers, user groups resolved; before its time
ran out), the answer claimed (one per waiting state: a second click, or another person's, loses and is told who
answered), then sent once: SendTaskSuccess or SendTaskFailure with the state's token. A retry after a crash claims
the same answer again and sends it again; Step Functions takes a token's answer once and refuses the next
(InvalidToken), which is read as answered when the execution still runs, and as too late when it has ended.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import blockkit
from shared.commands.control import RunbookAnswerArgs
from shared.jobs import JobEnvelope
from shared.runbooks import REJECTED_ERROR, execution_arn, execution_name
from worker_function.control.runbook_task import gone
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost
from worker_function.store.decisions import Decision
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)


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
        ctx.decisions.claim(args.prompt_id, "expired")
        _update(ctx, record, ":hourglass: This runbook step was not answered in time: it waits no more for opsbot.")
        return _tell(ctx, job, "this runbook step's time to answer has run out.")
    decided = ctx.decisions.claim(args.prompt_id, "approved" if approve else "rejected", by=clicker)
    if not decided.won:
        by = f" by {blockkit.mention(decided.by)}" if decided.by else ""
        return _tell(ctx, job, f"this runbook step was already {decided.outcome}{by}.")
    intent = ctx.intent(job, "sfn-task-answer", f"{args.answer} runbook step {args.prompt_id}")
    if not ctx.effect(AnswerTask(ctx.aws.client("stepfunctions"), record.token, approve, clicker, intent)):
        status = _execution_status(ctx, record)
        if status != "RUNNING":
            _update(ctx, record, f":warning: Answered by {blockkit.mention(clicker)} too late: the execution {status}.")
            return _tell(ctx, job, f"too late: the runbook's execution had ended ({status}); nothing was sent.")
        logger.info("step %s: its answer was sent by an earlier attempt", args.prompt_id)
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
    Functions took it, False when it no longer takes the token (answered before, timed out, execution ended). A
    token takes one answer and refuses the next, so a retry may call again: there is nothing else to reconcile."""

    sfn: Any
    token: str
    approve: bool
    by: str
    intent: Intent

    def call(self, intent: Intent) -> bool:
        try:
            if self.approve:
                self.sfn.send_task_success(taskToken=self.token, output=json.dumps({"approved_by": self.by}))
            else:
                self.sfn.send_task_failure(taskToken=self.token, error=REJECTED_ERROR, cause=f"rejected by {self.by}")
        except ClientError as exc:
            if not gone(exc):
                raise
            return False
        return True

    def reconcile(self, intent: Intent) -> None:
        return None

    def assumed(self, intent: Intent) -> bool:
        raise AssertionError("reconcile never answers unknowable")


class RunbookAnswerOperation:
    """The operation of `runbook_answer` (see the module's docstring)."""

    effects = (AnswerTask,)
    permissions: tuple[Grant, ...] = (
        Grant(("states:SendTaskSuccess", "states:SendTaskFailure"), on="state_machine"),
        Grant(("states:DescribeExecution",), on="execution"),
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


def _execution_status(ctx: OperationContext, record: Decision) -> str:
    """The execution the step belongs to (`runbook:<name>:<job id>` in its rule), as Step Functions says now."""
    _, name, job_id = [*record.rule.split(":", 2), "", ""][:3]
    book = ctx.inventory.runbooks.get(name)
    machine = (book.state_machine_arn if book else None) or ctx.settings.runbook_arns.get(name)
    if machine is None or not job_id:
        return "is unknown to opsbot"
    try:
        found = ctx.aws.client("stepfunctions").describe_execution(
            executionArn=execution_arn(machine, execution_name(job_id))
        )
    except ClientError:
        return "cannot be read"
    return str(found.get("status", "?"))


def _update(ctx: OperationContext, record: Decision, text: str) -> None:
    if not record.channel or not record.ts:
        return
    try:
        ctx.slack.chat_update(
            channel=record.channel,
            ts=record.ts,
            text=text,
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        )
    except Exception:  # the answer stands; only the message keeps its buttons
        logger.exception("could not update the runbook step's message")


def _tell(ctx: OperationContext, job: JobEnvelope, text: str) -> NothingToPost:
    requester = job.requester
    ctx.slack.chat_postEphemeral(channel=requester.channel_id, user=requester.user_id, text=f":no_entry: {text}")
    return NothingToPost(reason=text)
