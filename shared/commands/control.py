"""The worker's own messages: queued by the ack or the worker, never typed by a person. Each has its args model
here, its `Pipeline` in `CONTROL_PIPELINES` and its handler in `worker_function/control/`."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from shared.commands.spec import Args, Pipeline


class NoticeArgs(Args):
    """Not a command: a message for the requester queued by the ack, which never calls Slack's Web API
    itself (an Events API mention that does not parse is answered this way)."""

    kind: Literal["notice"] = "notice"
    text: str = Field(max_length=3000)
    #: Shown to the requester alone (chat.postEphemeral where they wrote), not posted in the thread.
    only_to_requester: bool = False
    #: The channel message it replaces with chat.update (a long job's progress message, once its response_url
    #: is spent): where, and its ts.
    update_channel: str | None = Field(default=None, max_length=32)
    update_ts: str | None = Field(default=None, max_length=32)


class HomeArgs(Args):
    """Not a command: the viewer opened the app's Home tab; the worker publishes it (views.publish)."""

    kind: Literal["home"] = "home"


class AuditNoteArgs(Args):
    """Not a command: a decision the ack made (a denial) for the worker to record; nobody is answered."""

    kind: Literal["audit_note"] = "audit_note"
    #: A denial by the ack; a cancel the worker could not write at once (`operations/cancel.py`).
    event: Literal["denial", "cancel"] = "denial"
    target: str = Field(default="-", max_length=255)
    detail: str = Field(default="", max_length=500)


class ApprovalRequestArgs(Args):
    """Not a command: the worker posts the request in the approvals channel with Approve / Reject buttons
    carrying `token` and `reject_token` (the job, sealed by the ack for each purpose; shared/confirm.py)."""

    kind: Literal["approval_request"] = "approval_request"
    token: str = Field(max_length=2000)
    reject_token: str = Field(default="", max_length=2000)
    approvers: list[str] = Field(max_length=50)
    channel: str = Field(max_length=32)
    rule: str = Field(max_length=64)
    #: The job awaiting approval (its decision record) and its target (its audit trail).
    job_id: str = Field(default="", max_length=64)
    target: str = Field(default="-", max_length=255)


class SettleArgs(Args):
    """Not a command: ends the confirmation prompt or approval request of job `prompt_id` as cancelled,
    rejected or expired, unless something else decided it first (the worker keeps one decision per prompt).
    An expiry waits (re-queued with a delay) until `not_before`, epoch seconds."""

    kind: Literal["settle"] = "settle"
    prompt_id: str = Field(max_length=64)
    outcome: Literal["cancelled", "rejected", "expired"]
    by: str = Field(default="", max_length=32)
    not_before: int = 0
    approval: bool = False
    target: str = Field(default="-", max_length=255)


class RunbookTaskArgs(Args):
    """Not a command: a runbook's state waits for a person (its task token came on the jobs queue, sent by the
    state itself): the worker asks with Approve / Reject (`worker_function/control/runbook_task.py`)."""

    kind: Literal["runbook_task"] = "runbook_task"
    #: The `/ops-run` job whose execution waits.
    job_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    state: str = Field(min_length=1, max_length=80)
    token: str = Field(min_length=1, max_length=4096)
    ask: str = Field(default="", max_length=500)


class RunbookAnswerArgs(Args):
    """Not a command: Approve or Reject clicked on a runbook's waiting state; the clicker is the job's requester."""

    kind: Literal["runbook_answer"] = "runbook_answer"
    prompt_id: str = Field(pattern=r"^step-[0-9a-f]{24}$")
    answer: Literal["approve", "reject"]


ControlArgs = (
    NoticeArgs | AuditNoteArgs | ApprovalRequestArgs | SettleArgs | HomeArgs | RunbookTaskArgs | RunbookAnswerArgs
)


#: The pipelines of the worker's own messages.
CONTROL_PIPELINES: dict[str, Pipeline] = {
    "notice": Pipeline(control=True, audited=False, policy_checked=False, approval=False),
    "settle": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
    "audit_note": Pipeline(record_only=True, control=True, audited=False, policy_checked=False, approval=False),
    # Posting an approval request is the requested command's first stop: audited and checked, not approved.
    "approval_request": Pipeline(approval=False),
    # The viewer's App Home tab, published by the worker (the ack never calls the Web API).
    "home": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
    # A runbook's waiting state asked about, and answered: the answer's clicker is checked by its handler.
    "runbook_task": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
    "runbook_answer": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
}

#: The worker's own messages' args models, by kind.
CONTROL_MODELS: dict[str, type[Args]] = {str(m.model_fields["kind"].default): m for m in get_args(ControlArgs)}
