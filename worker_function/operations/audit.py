"""/ops-audit <target>: the target's recent audit records."""

from __future__ import annotations

from collections.abc import Sequence

from shared.audit import AuditRecord
from shared.blockkit import (
    SLACK_ID,
    SlackMessage,
    context_block,
    echo,
    escape,
    fallback_text,
    kept_mrkdwn,
    mention,
    section_block,
    section_blocks,
)
from shared.commands.builtin.audit import AuditArgs
from shared.guard import may_read
from shared.jobs import JobEnvelope
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation

#: What a record's detail reads as to someone the policy does not admit to its command here.
WITHHELD = "(its detail is shown only to whom the policy admits to this command here)"
#: How many records /ops-audit shows.
HISTORY_LIMIT = 15


class AuditOperation:
    """The operation of `audit` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: AuditArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        """The target's records, newest first. The policy let the viewer read this target's audit (its environment:
        `reads_about`); a record's detail (an error may name a role ARN and account ids) is shown only to whom the
        policy admits to that record's own command on this target."""
        records = ctx.audit.history(args.target, limit=HISTORY_LIMIT)
        environment = ctx.inventory.environment_named(args.target)
        admitted: dict[str, bool] = {}

        def detail_of(record: AuditRecord) -> str:
            if not record.detail or not record.command:
                return record.detail
            if record.command not in admitted:
                admitted[record.command] = may_read(
                    ctx.inventory,
                    record.command,
                    environment,
                    job.requester.user_id,
                    job.requester.channel_id,
                    ctx.group_members,
                )
            return record.detail if admitted[record.command] else WITHHELD

        rows = [
            (
                r.at.strftime("%m-%d %H:%M:%S"),
                r.event,
                f"{r.command} {r.text}".strip(),
                r.user_id,
                r.channel_id,
                r.job_id,
                detail_of(r),
            )
            for r in records
        ]
        return audit_history(args.target, rows, job.short_id)


OPERATION: Operation[AuditArgs] = AuditOperation()


#: /ops-audit shows at most this many sections of records, then how many more.
AUDIT_SECTIONS = 6


def audit_history(target: str, rows: Sequence[tuple[str, str, str, str, str, str, str]], short_id: str) -> SlackMessage:
    """A target's recent audit records, newest first. Each row: time, event, command, user, channel, job, detail
    (the command as typed and the detail are escaped and shortened)."""
    header = f"*Recent history of {echo(target)}*"
    lines = [
        f"`{escape(when)}` *{escape(event)}* {echo(command)} by {mention(user)}"
        + (f" in <#{channel}>" if SLACK_ID.match(channel) else (f" in {escape(channel)}" if channel else ""))
        + f" (job `{escape(job[:8])}`)"
        + (f": {kept_mrkdwn(detail, 200)}" if detail else "")
        for when, event, command, user, channel, job, detail in rows
    ]
    body = section_blocks(lines or ["_Nothing recorded._"], max_sections=AUDIT_SECTIONS, what="records")
    return SlackMessage(
        text=fallback_text(header, *lines), blocks=[section_block(header), *body, context_block(f"job `{short_id}`")]
    )
