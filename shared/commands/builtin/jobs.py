"""/ops-jobs [target]: what runs and waits, and the targets' leases."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import Args, CommandSpec, TargetName


class JobsArgs(Args):
    kind: Literal["jobs"] = "jobs"
    #: Only the jobs on this target (and its lease); None: every job and every lease.
    target: TargetName | None = None


SPEC = CommandSpec(
    name="/ops-jobs",
    args_model=JobsArgs,
    description="What runs now and what waits (command, who, since when, step, lease), and who holds each "
    "target's lease.",
    positional=("target",),
    optional=1,
    usage_hint="[target]",
    tracked=False,
    reads_about="target",
    rank=120,
)
