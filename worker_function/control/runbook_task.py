"""A runbook's state waits for a person: its task token came on the jobs queue (the state sent it, see
docs/runbooks.md). The waiting state is remembered first (its token, who ran the runbook, who may answer and until
when: a decision record, `Decisions.open_task`), then asked about with Approve / Reject in the runbook's approval
channel, or where it was run. The answer is `runbook_answer`'s.

A token for a job opsbot does not know, or one that has ended, is answered with SendTaskFailure (the execution
would otherwise wait for nobody); a token Step Functions no longer takes (the execution was stopped, the state timed
out) is left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import blockkit
from shared.blockkit import SlackMessage
from shared.commands.control import RunbookTaskArgs
from shared.jobs import JobEnvelope
from shared.runbooks import STEP_APPROVE_ACTION, STEP_REJECT_ACTION, prompt_id_of
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)

#: What Step Functions answers for a token it no longer takes.
GONE = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})


def ask(args: RunbookTaskArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
    record = ctx.jobs.get(args.job_id)
    book = ctx.inventory.runbooks.get(record.subject) if record is not None else None
    if record is None or book is None or not record.active:
        why = "no such opsbot job" if record is None or book is None else f"its job {record.state}"
        intent = ctx.intent(job, "sfn-task-failure", f"fail the waiting state {args.state}: {why}")
        ctx.effect(
            FailTask(ctx.aws.client("stepfunctions"), args.token, "opsbot.NoSuchJob", f"nobody to ask: {why}", intent)
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
    posted = ctx.slack.chat_postMessage(channel=channel, text=prompt.text, blocks=prompt.blocks)
    ctx.decisions.open(
        prompt_id,
        str(posted.get("channel") or channel),
        str(posted["ts"]),
        approvers=book.approvers,
        rule=f"runbook:{record.subject}:{args.job_id}",
    )
    return NothingToPost(reason=f"asked about state {args.state} of job {args.job_id[:8]} in {channel}")


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
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "block_id": "opsbot_step", "elements": buttons},
        ],
        response_type="in_channel",
    )


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

    effects = (FailTask,)
    permissions: tuple[Grant, ...] = (Grant(("states:SendTaskFailure",), on="state_machine"),)

    def run(self, args: RunbookTaskArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
        return ask(args, job, ctx)


OPERATION: Operation[RunbookTaskArgs] = RunbookTaskOperation()
