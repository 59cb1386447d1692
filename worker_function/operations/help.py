"""/ops-help: the commands, their usage and the inventory names each accepts (from the specs and inventory)."""

from __future__ import annotations

from shared import messages
from shared.commands import COMMANDS, HelpArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.operations import OperationContext


def run(args: HelpArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    entries = [(spec, ctx.inventory.names_for(spec.accepts) if spec.accepts else None) for spec in COMMANDS]
    return messages.help_text(entries)
