"""/ops-cancel <job id>: stop a running or waiting job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.commands.spec import Args, CommandSpec


class CancelArgs(Args):
    kind: Literal["cancel"] = "cancel"
    #: The job's short id as opsbot's messages show it (`7f3a2b1c`), or more of it.
    job_id: str = Field(pattern=r"^[0-9a-fA-F]{4,32}$")


SPEC = CommandSpec(
    name="/ops-cancel",
    args_model=CancelArgs,
    description="Stop a running or waiting job by its id: its next step does not run, its build is stopped "
    "(CodeBuild, Jenkins), its lease released. The requester's, or whom the policy lets cancel it.",
    positional=("job_id",),
    usage_hint="<job id>",
    tracked=False,
    guarded=False,
    field_words={"job_id": "the job id"},
    pattern_words={"job_id": "a job id is the hex digits opsbot's messages show (`7f3a2b1c`), at least 4"},
    rank=130,
)
