"""/ops-ping [seconds]: is opsbot alive end to end."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.commands.spec import Args, CommandSpec


class PingArgs(Args):
    kind: Literal["ping"] = "ping"
    #: Simulated work in seconds: shows that a slow job never delays the ack.
    work_seconds: float = Field(default=0.0, ge=0, le=60)


SPEC = CommandSpec(
    name="/ops-ping",
    args_model=PingArgs,
    description="Check that opsbot is alive end to end; optionally simulate N seconds of work.",
    positional=("work_seconds",),
    optional=1,
    usage_hint="[seconds]",
    reads_only=True,
    field_words={"work_seconds": "seconds"},
    rank=10,
)
