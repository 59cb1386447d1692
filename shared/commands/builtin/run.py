"""/ops-run <runbook> [target] [key=value ...]: run a runbook (a Step Functions state machine; shared/runbooks.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from shared.commands.builtin.build import BuildArgs
from shared.commands.spec import HOUR, Args, CommandSpec, TargetName
from shared.commands.words import quoted
from shared.errors import UsageError

if TYPE_CHECKING:
    from shared.inventory import Inventory


class RunArgs(Args):
    kind: Literal["run"] = "run"
    #: A runbook of the inventory (`[runbooks.NAME]`).
    runbook: TargetName
    #: The inventory target it runs on, when the runbook names targets.
    target: TargetName | None = None
    parameters: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, str]) -> dict[str, str]:
        return BuildArgs._parameter_names(value)

    @property
    def leased(self) -> str:
        """What the run's lease is on: its target, or the runbook itself when it runs on none."""
        return self.target or f"runbook:{self.runbook}"


def parse_run_words(words: list[str]) -> dict[str, Any]:
    """`<runbook> [target] [key=value ...]`."""
    if not words:
        raise UsageError("/ops-run needs a runbook.")
    values: dict[str, Any] = {"runbook": words[0]}
    parameters: dict[str, str] = {}
    for word in words[1:]:
        name, eq, value = word.partition("=")
        if eq and name:
            parameters[name] = value
        elif "target" in values:
            raise UsageError(f"/ops-run takes one target, then key=value parameters; got {quoted(word)} too.")
        elif eq:
            raise UsageError(f"runbook parameters are key=value, got {quoted(word)}.")
        else:
            values["target"] = word
    return {**values, "parameters": parameters}


def runbook_problem(args: RunArgs, inventory: Inventory | None) -> str | None:
    """A runbook run on a target it does not name, or with a parameter its allow-list does not admit."""
    book = inventory.runbooks.get(args.runbook) if inventory is not None else None
    problem = book.refusal(args.target, args.parameters) if book is not None else None
    return f"Runbook {quoted(args.runbook)}: {problem}." if problem is not None else None


SPEC = CommandSpec(
    name="/ops-run",
    args_model=RunArgs,
    description="Run a runbook (a Step Functions state machine) with parameters: each of its steps shown as it "
    "goes, a person asked where it says so, stopped by /ops-cancel.",
    usage_hint="<runbook> [target] [key=value ...]",
    parse_words=parse_run_words,
    target="leased",
    subject="runbook",
    accepts="runbook",
    max_age_s=24 * HOUR,
    check=runbook_problem,
    field_words={"runbook": "the runbook", "target": "the target", "parameters": "the runbook parameters"},
    pattern_words={
        "runbook": "runbook names are letters, digits, - and _, starting with a letter or digit (up to 255)",
        "target": "target names are letters, digits, - and _, starting with a letter or digit (up to 255)",
    },
    invalid_words={
        "parameters": "runbook parameter names are letters, digits, _, . and - (up to 128), each value up to 1000 "
        "characters."
    },
    rank=85,
)
