"""/ops-build <job> [key=value ...]: run a Jenkins job."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from shared.commands.spec import HOUR, Args, CommandSpec
from shared.commands.words import quoted
from shared.errors import UsageError

if TYPE_CHECKING:
    from shared.inventory import Inventory

#: Names Jenkins reads itself from a build request (buildWithParameters' `delay`, `token`, `cause`, the form's
#: `json` and `Submit`, the CSRF crumb): never passed as a build parameter, whatever the inventory says.
JENKINS_RESERVED = frozenset({"delay", "token", "cause", "json", "submit", "crumb", "jenkins-crumb", ".crumb"})
#: Jenkins job names as the inventory lists them (folders with "/").
JobName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$")]
#: A build parameter's name: what Jenkins accepts in a form field.
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class BuildArgs(Args):
    kind: Literal["build"] = "build"
    job: JobName
    parameters: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not _PARAM_NAME.match(name):
                raise ValueError(f"{name!r} is not a parameter name")
            if len(val) > 1000:
                raise ValueError(f"the value of {name} is longer than 1000 characters")
        return value


def parse_build_words(words: list[str]) -> dict[str, Any]:
    """`<job> [key=value ...]`."""
    if not words:
        raise UsageError("/ops-build needs a Jenkins job.")
    parameters: dict[str, str] = {}
    for word in words[1:]:
        name, eq, value = word.partition("=")
        if not eq or not name:
            raise UsageError(f"build parameters are key=value, got {quoted(word)}.")
        parameters[name] = value
    return {"job": words[0], "parameters": parameters}


def parameter_problem(args: BuildArgs, inventory: Inventory | None) -> str | None:
    """A build parameter that may not reach Jenkins: a reserved name (always), or one the job's allow-list in
    the inventory does not name or whose value it does not admit."""
    for name in args.parameters:
        if name.lower() in JENKINS_RESERVED:
            return f"{quoted(name)} is a name Jenkins reserves; it is never passed as a build parameter."
    job = inventory.jenkins_jobs.get(args.job) if inventory is not None else None
    return job.refusal(args.parameters) if job is not None else None


SPEC = CommandSpec(
    name="/ops-build",
    args_model=BuildArgs,
    description="Run a Jenkins job with parameters and follow it to its result.",
    usage_hint="<job> [key=value ...]",
    parse_words=parse_build_words,
    check=parameter_problem,
    target="job",
    subject="job",
    accepts="jenkins_job",
    max_age_s=4 * HOUR,
    field_words={"job": "the Jenkins job", "parameters": "the build parameters"},
    pattern_words={
        "job": "Jenkins job names are letters, digits, -, _, . and /, starting with a letter or digit (up to 255)"
    },
    invalid_words={
        "parameters": "build parameter names are letters, digits, _, . and - (up to 128), each value up to 1000 "
        "characters."
    },
    rank=80,
)
