"""/ops-regression <suite>: a regression suite (CodeBuild)."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import HOUR, Args, CommandSpec, TargetName


class RegressionArgs(Args):
    kind: Literal["regression"] = "regression"
    suite: TargetName


SPEC = CommandSpec(
    name="/ops-regression",
    args_model=RegressionArgs,
    description="Run a regression suite (CodeBuild) and report passed/failed/skipped tests.",
    positional=("suite",),
    usage_hint="<suite>",
    target="suite",
    subject="suite",
    accepts="suite",
    max_age_s=8 * HOUR,
    field_words={"suite": "the suite"},
    pattern_words={"suite": "suite names are letters, digits, - and _, starting with a letter or digit (up to 255)"},
    rank=100,
)
