"""/ops-audit <target>: the target's recent audit records."""

from __future__ import annotations

from shared import messages
from shared.commands import AuditArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.operations import OperationContext

#: How many records /ops-audit shows.
HISTORY_LIMIT = 15


def run(args: AuditArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    records = ctx.audit.history(args.target, limit=HISTORY_LIMIT)
    rows = [
        (
            r.at.strftime("%m-%d %H:%M:%S"),
            r.event,
            f"{r.command} {r.text}".strip(),
            r.user_id,
            r.channel_id,
            r.job_id,
            r.detail,
        )
        for r in records
    ]
    return messages.audit_history(args.target, rows, job.short_id)
