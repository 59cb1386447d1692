"""/ops-help: the commands, their usage and the inventory names each accepts (from the specs and inventory)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.blockkit import SlackMessage, echo, escape, fallback_text, section_block, section_blocks
from shared.commands import COMMANDS, CommandSpec
from shared.commands.builtin.help import HelpArgs
from shared.jobs import JobEnvelope
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation


class HelpOperation:
    """The operation of `help` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: HelpArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        entries = [(spec, ctx.inventory.names_for(spec.accepts) if spec.accepts else None) for spec in COMMANDS]
        return help_text(entries)


OPERATION: Operation[HelpArgs] = HelpOperation()


#: /ops-help lists at most this many names per command, then says how many more.
HELP_NAMES_SHOWN = 8


def help_text(entries: Sequence[tuple[CommandSpec, list[str] | None]]) -> SlackMessage:
    """The commands, their usage and, for those that take an inventory name, the names they accept (the first
    few, then how many more: `/ops-help` stays short whatever the inventory)."""
    lines = []
    for spec, names in entries:
        accepted = ""
        if names is not None:
            shown = ", ".join(echo(n, 40) for n in names[:HELP_NAMES_SHOWN])
            more = f" and {len(names) - HELP_NAMES_SHOWN} more" if len(names) > HELP_NAMES_SHOWN else ""
            accepted = " Accepts: " + (f"{shown}{more}" if names else "_none configured_") + "."
        lines.append(f"• `{escape(spec.usage)}`: {spec.summary}{accepted}")
    header = "*What I can do*"
    return SlackMessage(text=fallback_text(header, *lines), blocks=[section_block(header), *section_blocks(lines)])
