"""/ops-help: the commands, their usage and the inventory names each accepts (from the specs and inventory)."""

from __future__ import annotations

from shared import messages
from shared.commands import COMMANDS
from shared.commands.builtin.help import HelpArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation


class HelpOperation:
    """The operation of `help` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: HelpArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        entries = [(spec, ctx.inventory.names_for(spec.accepts) if spec.accepts else None) for spec in COMMANDS]
        return messages.help_text(entries)


OPERATION: Operation[HelpArgs] = HelpOperation()
