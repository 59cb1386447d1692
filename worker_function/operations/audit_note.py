"""A decision the ack made (a denial), recorded by the dispatcher; nothing is sent to anyone."""

from __future__ import annotations

from shared.commands import AuditNoteArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.operations import OperationContext


def run(args: AuditNoteArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    return SlackMessage(text="")
