"""The entries of the inventory (shared/inventory.py): what one target, suite, Jenkins job, account, alarm route
or the intake is, each a typed model validated at load; the `Inventory` aggregate holds them by name."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from shared.commands import CommandSpec, command_names, find_command
from shared.commands.words import MAX_TASKS
from shared.errors import UsageError
from shared.parameters import Parameter, ParameterName
from shared.parameters import refusal as parameter_refusal
from shared.policy import Environment

if TYPE_CHECKING:
    from shared.plugins import TargetKind

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")]


class InventoryModel(BaseModel):
    # Built when an inventory is loaded, not at import (see shared.policy._Model).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


#: `/ops-scale` bounds of an ECS target that names none: at least 1 task, because scaling to 0 stops the service
#: (it must be allowed by writing `min = 0`, never one typo away), and at most 10, so that a slipped digit
#: (`30` for `3`) cannot multiply a service's tasks, cost and connections; a bigger service names its own `max`.
DEFAULT_MIN_TASKS = 1
DEFAULT_MAX_TASKS = 10


class EcsService(InventoryModel):
    cluster: str = Field(min_length=1, max_length=255)
    service: str = Field(min_length=1, max_length=255)
    #: The desired counts `/ops-scale` may set (None: `DEFAULT_MIN_TASKS` / `DEFAULT_MAX_TASKS`).
    min: int | None = Field(default=None, ge=0, le=MAX_TASKS)
    max: int | None = Field(default=None, ge=0, le=MAX_TASKS)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> EcsService:
        low, high = self.bounds
        if low > high:
            default = "" if self.max is not None else " (the default max: set max too)"
            raise ValueError(f"min {low} is above max {high}{default}")
        return self

    @property
    def bounds(self) -> tuple[int, int]:
        """The lowest and highest desired count `/ops-scale` may set."""
        low = DEFAULT_MIN_TASKS if self.min is None else self.min
        return low, DEFAULT_MAX_TASKS if self.max is None else self.max

    def count_refusal(self, name: str, count: int) -> str | None:
        """Why `/ops-scale <name> <count>` may not set this count, in plain words; None when it may."""
        low, high = self.bounds
        if low <= count <= high:
            return None
        named = self.min is not None or self.max is not None
        where = (
            "the inventory's bounds" if named else "opsbot's default bounds; `min` / `max` in the inventory set others"
        )
        return f"`{name}` scales between {low} and {high} tasks ({where}): {count} is outside them."


class Ec2Instances(InventoryModel):
    """The instances whose tag `tag` has the value `value`."""

    tag: str = Field(default="Name", min_length=1, max_length=128)
    value: str = Field(min_length=1, max_length=256)


class CodeBuildRun(InventoryModel):
    codebuild_project: str = Field(min_length=2, max_length=255)
    #: The environment variable that carries `/ops-migrate <target> <version>`.
    version_variable: str = "MIGRATION_VERSION"


#: An IAM role the worker assumes for a target (a path is allowed: `role/ops/opsbot-target`).
RoleArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")]


class Account(InventoryModel):
    """Another AWS account (its role for opsbot) and/or region, named by targets as `account = "NAME"`."""

    role_arn: RoleArn | None = None
    region: Region | None = None
    description: str = ""

    @model_validator(mode="after")
    def _says_something(self) -> Account:
        if self.role_arn is None and self.region is None:
            raise ValueError("an account names a role_arn, a region or both")
        return self


class Target(InventoryModel):
    environment: Environment = "staging"
    #: An `[accounts.NAME]` table; the target's own `role_arn` / `region` win over its values.
    account: Name | None = None
    #: Where the worker acts for this target (after loading: the account's values filled in); None: its own.
    role_arn: RoleArn | None = None
    region: Region | None = None
    description: str = ""
    ecs: EcsService | None = None
    ec2: Ec2Instances | None = None
    log_groups: list[str] = Field(default_factory=list, max_length=50)
    pipeline: str | None = None
    migration: CodeBuildRun | None = None
    #: The tables of the plugins' target kinds (`shared.plugins.TargetKind`), by key, each validated by its
    #: kind's model: written in the inventory as the target's own tables (`cloudfront = { ... }`).
    kinds: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _plugin_tables(cls, data: Any) -> Any:
        """A plugin's table (`cloudfront = {...}`) goes into `kinds`; a key that is neither a field nor an installed
        plugin's kind is left for `extra="forbid"` to refuse."""
        if not isinstance(data, Mapping):
            return data
        known = plugin_kinds()
        tables = {key: value for key, value in data.items() if key not in cls.model_fields and key in known}
        if not tables:
            return data
        rest = {key: value for key, value in data.items() if key not in tables}
        return {**rest, "kinds": {**dict(rest.get("kinds") or {}), **tables}}

    @model_validator(mode="after")
    def _one_kind_of_compute(self) -> Target:
        if self.ecs is not None and self.ec2 is not None:
            raise ValueError("a target is an ECS service or EC2 instances, not both")
        known = plugin_kinds()
        for key, table in self.kinds.items():
            kind = known.get(key)
            if kind is None:
                raise ValueError(f"{key!r} is not a kind of target of an installed plugin")
            if not isinstance(table, kind.model):
                try:
                    self.kinds[key] = kind.model.model_validate(table)
                except ValidationError as exc:
                    problems = "; ".join(validation_problem(err) for err in exc.errors())
                    raise ValueError(f"{key}: {problems}") from None
        return self

    def table(self, key: str) -> Any:
        """The target's table of a plugin's target kind (validated by its model), or None when it has none."""
        return self.kinds.get(key)


class Suite(InventoryModel):
    codebuild_project: str = Field(min_length=2, max_length=255)
    environment: Environment = "staging"
    description: str = ""


#: What a build parameter may be (`shared.parameters.Parameter`).
JenkinsParameter = Parameter


class JenkinsJob(InventoryModel):
    #: The job's full name on Jenkins (folders separated by "/").
    job: str = Field(min_length=1, max_length=255)
    environment: Environment = "staging"
    description: str = ""
    #: The parameters `/ops-build` may pass (none listed: none), each with what its value may be.
    parameters: dict[ParameterName, JenkinsParameter] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _not_reserved(cls, value: dict[str, JenkinsParameter]) -> dict[str, JenkinsParameter]:
        from shared.commands.builtin.build import JENKINS_RESERVED  # the command's own (imported when first needed)

        for name in value:
            if name.lower() in JENKINS_RESERVED:
                raise ValueError(f"{name!r} is a name Jenkins reserves, never a build parameter")
        return value

    def refusal(self, parameters: Mapping[str, str]) -> str | None:
        """Why these build parameters may not be passed, in plain words; None when they may."""
        from shared.commands.builtin.build import JENKINS_RESERVED

        for name in parameters:
            if name.lower() in JENKINS_RESERVED:
                allowed = ", ".join(sorted(self.parameters)) or "none"
                return f"{name} is reserved by Jenkins and never passed; the parameters allowed are: {allowed}"
        return parameter_refusal(self.parameters, parameters, "this job")


class Intake(InventoryModel):
    """Who besides this workspace's people may trigger opsbot (by default nobody: no bot, no other team)."""

    allowed_bots: list[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,32}$")]] = Field(default_factory=list)
    allowed_teams: list[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,32}$")]] = Field(default_factory=list)


#: CloudWatch alarm names: up to 255 characters, no control characters.
AlarmKey = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,255}$")]
#: Runbook buttons per alarm (one actions block, each button readable at a glance).
MAX_RUNBOOK = 5


class AlarmRoute(InventoryModel):
    """Where an alarm (or every alarm whose name starts with the key, `prefix = true`) is posted, and the
    commands its buttons run, as typed (`/ops-logs payment --since 30m ERROR`)."""

    target: Name
    channel: Annotated[str, StringConstraints(pattern=r"^[CG][A-Z0-9]{2,31}$")]
    prefix: bool = False
    runbook: list[Annotated[str, StringConstraints(min_length=2, max_length=500)]] = Field(
        default_factory=list, max_length=MAX_RUNBOOK
    )

    @field_validator("runbook")
    @classmethod
    def _commands_parse(cls, value: list[str]) -> list[str]:
        for line in value:
            parse_command_line(line)
        return value


def parse_command_line(line: str) -> tuple[CommandSpec, Any]:
    """A command line as a person types it (`/ops-restart payment`): its spec and args, or `ValueError`."""
    name, _, text = line.strip().partition(" ")
    spec = find_command(name)
    if spec is None:
        known = ", ".join(command_names())
        raise ValueError(f"{line!r}: {name!r} is not a command (the commands are {known})")
    try:
        return spec, spec.parse(text)
    except UsageError as exc:
        raise ValueError(f"{line!r}: {exc}") from None


def validation_problem(err: Any) -> str:
    """One validation problem as `key.path: what is wrong` (a model-wide check names its key itself)."""
    where = ".".join(str(p) for p in err["loc"])
    if where:
        return f"{where}: {err['msg']}"
    return str(err["ctx"]["error"]) if err["type"] == "value_error" and "error" in err.get("ctx", {}) else err["msg"]


def plugin_kinds() -> dict[str, TargetKind]:
    """The target kinds the installed plugins add (their keys are never one of `Target`'s own fields)."""
    return _plugin_kinds()


@functools.cache
def _plugin_kinds() -> dict[str, TargetKind]:
    from shared.plugins import target_kinds  # only where an inventory is read

    return target_kinds(taken=Target.model_fields)
