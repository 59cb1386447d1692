"""/ops-migrate <target> [version]: a database migration (CodeBuild)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.commands.spec import HOUR, CommandSpec, TargetArgs


class MigrateArgs(TargetArgs):
    kind: Literal["migrate"] = "migrate"
    #: The version to migrate to; the project's own default when left out.
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


SPEC = CommandSpec(
    name="/ops-migrate",
    args_model=MigrateArgs,
    description="Run a target's database migration (CodeBuild) and follow it to the end.",
    positional=("target", "version"),
    optional=1,
    usage_hint="<target> [version]",
    target="target",
    subject="target",
    accepts="migration",
    max_age_s=6 * HOUR,
    confirm=True,
    field_words={"version": "the version"},
    pattern_words={"version": "versions are letters, digits, ., +, - and _ (up to 128)"},
    rank=90,
)
