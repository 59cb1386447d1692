"""/ops-help: the commands, their usage and the targets each accepts."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import Args, CommandSpec


class HelpArgs(Args):
    kind: Literal["help"] = "help"


SPEC = CommandSpec(
    name="/ops-help",
    args_model=HelpArgs,
    description="The commands, their usage and the targets each accepts.",
    reads_only=True,
    rank=1000,
)
