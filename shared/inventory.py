"""The inventory: what each target name means (ECS service, EC2 instances, CodeBuild projects, log groups,
Jenkins jobs), read from a TOML file and validated at load. The worker loads it once per cold start.

The worker loads it once per cold start; the ack reads it at init only for the policy (`[policy]`, see
shared/policy.py) and the environment of each name:

    [targets.payment]
    environment = "prod"
    ecs = { cluster = "opsbot-demo", service = "payment", min = 2, max = 8 }   # /ops-scale bounds
    log_groups = ["/opsbot-demo/payment"]
    pipeline = "payment-pipeline"
    migration = { codebuild_project = "payment-migrate" }

    [targets.bastion]
    environment = "prod"
    ec2 = { tag = "Name", value = "bastion" }

    [suites.smoke]
    codebuild_project = "regression-smoke"

    [jenkins_jobs.deploy-web]
    job = "web/deploy"
    parameters = { ENV = { values = ["staging", "prod"] }, VERSION = { pattern = "[0-9][0-9.]*" }, NOTE = {} }

    [accounts.prod-eu]                       # another AWS account (and/or region) targets may live in
    role_arn = "arn:aws:iam::222222222222:role/opsbot-target"
    region = "eu-west-1"

    [targets.payment-eu]
    account = "prod-eu"                      # or role_arn / region on the target itself (they win)
    ecs = { cluster = "eu", service = "payment" }

    [alarms.payment-5xx]                     # a CloudWatch alarm posted to a channel, with runbook buttons
    target = "payment"
    channel = "C0OPSALERTS"
    runbook = ["/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment"]

    [alarms."payment-"]                      # every alarm whose name starts with "payment-" (exact names first)
    prefix = true
    target = "payment"
    channel = "C0OPSALERTS"

    [intake]                                 # who may trigger opsbot besides this workspace's people
    allowed_bots = ["B0DEPLOYBOT"]           # bot ids whose mentions run commands (default: none)
    allowed_teams = ["T0PARTNER"]            # other workspaces (Slack Connect) whose people may (default: none)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from shared.commands import COMMANDS, CommandSpec, find_command
from shared.commands.builtin.build import JENKINS_RESERVED
from shared.commands.builtin.scale import MAX_TASKS
from shared.errors import OpsbotError, UsageError
from shared.parameters import Parameter, ParameterName
from shared.plugins import TargetKind, target_kinds
from shared.policy import Environment, Policy, build_models
from shared.runbooks import Runbook

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")]


class InventoryError(OpsbotError):
    """The inventory file is missing, not TOML, or does not validate (the message names the bad key)."""


class UnknownNameError(OpsbotError):
    """A command named something the inventory does not have (or that cannot do what was asked)."""

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        self.what, self.name, self.known = what, name, known
        listed = ", ".join(f"`{k}`" for k in known) if known else "none are configured"
        super().__init__(f"I don't know {what} `{name}`. Known {what}s, closest first: {listed}")


class _Model(BaseModel):
    # Built when an inventory is loaded, not at import (see shared.policy._Model).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


#: `/ops-scale` bounds of an ECS target that names none: at least 1 task, because scaling to 0 stops the service
#: (it must be allowed by writing `min = 0`, never one typo away), and at most 10, so that a slipped digit
#: (`30` for `3`) cannot multiply a service's tasks, cost and connections; a bigger service names its own `max`.
DEFAULT_MIN_TASKS = 1
DEFAULT_MAX_TASKS = 10


class EcsService(_Model):
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


class Ec2Instances(_Model):
    """The instances whose tag `tag` has the value `value`."""

    tag: str = Field(default="Name", min_length=1, max_length=128)
    value: str = Field(min_length=1, max_length=256)


class CodeBuildRun(_Model):
    codebuild_project: str = Field(min_length=2, max_length=255)
    #: The environment variable that carries `/ops-migrate <target> <version>`.
    version_variable: str = "MIGRATION_VERSION"


#: An IAM role the worker assumes for a target (a path is allowed: `role/ops/opsbot-target`).
RoleArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")]


class Account(_Model):
    """Another AWS account (its role for opsbot) and/or region, named by targets as `account = "NAME"`."""

    role_arn: RoleArn | None = None
    region: Region | None = None
    description: str = ""

    @model_validator(mode="after")
    def _says_something(self) -> Account:
        if self.role_arn is None and self.region is None:
            raise ValueError("an account names a role_arn, a region or both")
        return self


class Target(_Model):
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
                    problems = "; ".join(_problem(err) for err in exc.errors())
                    raise ValueError(f"{key}: {problems}") from None
        return self

    def table(self, key: str) -> Any:
        """The target's table of a plugin's target kind (validated by its model), or None when it has none."""
        return self.kinds.get(key)


class Suite(_Model):
    codebuild_project: str = Field(min_length=2, max_length=255)
    environment: Environment = "staging"
    description: str = ""


#: What a build parameter may be (`shared.parameters.Parameter`).
JenkinsParameter = Parameter


class JenkinsJob(_Model):
    #: The job's full name on Jenkins (folders separated by "/").
    job: str = Field(min_length=1, max_length=255)
    environment: Environment = "staging"
    description: str = ""
    #: The parameters `/ops-build` may pass (none listed: none), each with what its value may be.
    parameters: dict[ParameterName, JenkinsParameter] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _not_reserved(cls, value: dict[str, JenkinsParameter]) -> dict[str, JenkinsParameter]:
        for name in value:
            if name.lower() in JENKINS_RESERVED:
                raise ValueError(f"{name!r} is a name Jenkins reserves, never a build parameter")
        return value

    def refusal(self, parameters: Mapping[str, str]) -> str | None:
        """Why these build parameters may not be passed, in plain words; None when they may."""
        allowed = ", ".join(sorted(self.parameters)) or "none"
        for name, value in parameters.items():
            if name.lower() in JENKINS_RESERVED:
                return f"{name} is reserved by Jenkins and never passed; the parameters allowed are: {allowed}"
            spec = self.parameters.get(name)
            if spec is None:
                return f"{name} is not a parameter of this job; the parameters allowed are: {allowed}"
            if not spec.admits(value):
                if spec.values:
                    return f"{name} must be one of {', '.join(spec.values[:20])}"
                return f"that value of {name} is not one this job accepts"
        return None


class Intake(_Model):
    """Who besides this workspace's people may trigger opsbot (by default nobody: no bot, no other team)."""

    allowed_bots: list[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,32}$")]] = Field(default_factory=list)
    allowed_teams: list[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,32}$")]] = Field(default_factory=list)


#: CloudWatch alarm names: up to 255 characters, no control characters.
AlarmKey = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,255}$")]
#: Runbook buttons per alarm (one actions block, each button readable at a glance).
MAX_RUNBOOK = 5


class AlarmRoute(_Model):
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
        known = ", ".join(s.name for s in COMMANDS)
        raise ValueError(f"{line!r}: {name!r} is not a command (the commands are {known})")
    try:
        return spec, spec.parse(text)
    except UsageError as exc:
        raise ValueError(f"{line!r}: {exc}") from None


class Inventory(_Model):
    version: Literal[1] = 1
    targets: dict[Name, Target] = Field(default_factory=dict)
    suites: dict[Name, Suite] = Field(default_factory=dict)
    jenkins_jobs: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$")], JenkinsJob
    ] = Field(default_factory=dict)
    #: Other AWS accounts and regions targets live in.
    accounts: dict[Name, Account] = Field(default_factory=dict)
    #: Who may run what (shared/policy.py).
    policy: Policy = Field(default_factory=Policy)
    #: Who may trigger at all: named bots, other workspaces.
    intake: Intake = Field(default_factory=Intake)
    #: CloudWatch alarms posted to a channel, by exact name or name prefix, with their runbook buttons.
    alarms: dict[AlarmKey, AlarmRoute] = Field(default_factory=dict)
    #: Multi-step operations run on Step Functions (`/ops-run`; shared/runbooks.py).
    runbooks: dict[Name, Runbook] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _runbooks_name_what_exists(self) -> Inventory:
        for key, runbook in self.runbooks.items():
            for target in runbook.targets:
                if target not in self.targets:
                    raise ValueError(f"runbooks.{key}.targets: {target!r} is not one of the targets")
                if self.targets[target].environment != runbook.environment:
                    raise ValueError(
                        f"runbooks.{key}.targets: {target!r} is in {self.targets[target].environment}, the runbook in "
                        f"{runbook.environment} (the policy decides a run by the runbook's environment: one for all)"
                    )
            if runbook.account is not None and runbook.account not in self.accounts:
                known = ", ".join(sorted(self.accounts)) or "none"
                raise ValueError(
                    f"runbooks.{key}.account: there is no [accounts.{runbook.account}] (accounts: {known})"
                )
        return self

    @model_validator(mode="after")
    def _alarms_name_what_exists(self) -> Inventory:
        for key, route in self.alarms.items():
            if route.target not in self.targets:
                raise ValueError(f"alarms.{key}.target: {route.target!r} is not one of the targets")
            for line in route.runbook:
                spec, args = parse_command_line(line)
                if spec.subject and spec.accepts:
                    try:
                        self.require(spec.accepts, str(getattr(args, spec.subject)))
                    except UnknownNameError as exc:
                        raise ValueError(f"alarms.{key}.runbook: {line!r}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _accounts_resolved(self) -> Inventory:
        """Each target's `account` names an `[accounts.NAME]` table, whose role and region it takes unless it
        names its own: after loading, `target.role_arn` and `target.region` are where the worker acts."""
        for name, target in self.targets.items():
            if target.account is None:
                continue
            account = self.accounts.get(target.account)
            if account is None:
                known = ", ".join(sorted(self.accounts)) or "none"
                raise ValueError(f"targets.{name}.account: there is no [accounts.{target.account}] (accounts: {known})")
            self.targets[name] = target.model_copy(
                update={"role_arn": target.role_arn or account.role_arn, "region": target.region or account.region}
            )
        return self

    def role_arns(self) -> list[str]:
        """Every IAM role the worker may assume for a target, sorted (what its `sts:AssumeRole` grant names)."""
        return sorted({t.role_arn for t in self.targets.values() if t.role_arn is not None})

    # -- lookups ---------------------------------------------------------------------------

    def names_for(self, accepts: str) -> list[str]:
        """The names a command accepting `accepts` (see `shared.commands.Accepts`) may be given, sorted."""
        if accepts == "suite":
            return sorted(self.suites)
        if accepts == "jenkins_job":
            return sorted(self.jenkins_jobs)
        if accepts == "environment":
            return self.environments()
        if accepts == "runbook":
            return sorted(self.runbooks)
        return sorted(name for name, target in self.targets.items() if _can(target, accepts))

    def environments(self) -> list[str]:
        """The environments the inventory's targets, suites and Jenkins jobs are in, sorted (what a freeze names)."""
        found: set[str] = {t.environment for t in self.targets.values()}
        found |= {s.environment for s in self.suites.values()} | {j.environment for j in self.jenkins_jobs.values()}
        found |= {r.environment for r in self.runbooks.values()}
        return sorted(found)

    def target(self, name: str, accepts: str) -> Target:
        """The target named `name` that can do `accepts`, or `UnknownNameError` listing the ones that can."""
        target = self.targets.get(name)
        if target is None or not _can(target, accepts):
            raise UnknownNameError("target", name, closest_first(name, self.names_for(accepts)))
        return target

    def suite(self, name: str) -> Suite:
        if name not in self.suites:
            raise UnknownNameError("suite", name, closest_first(name, list(self.suites)))
        return self.suites[name]

    def jenkins_job(self, name: str) -> JenkinsJob:
        if name not in self.jenkins_jobs:
            raise UnknownNameError("Jenkins job", name, closest_first(name, list(self.jenkins_jobs)))
        return self.jenkins_jobs[name]

    def runbook(self, name: str) -> Runbook:
        if name not in self.runbooks:
            raise UnknownNameError("runbook", name, closest_first(name, list(self.runbooks)))
        return self.runbooks[name]

    def require(self, accepts: str, name: str) -> None:
        """Raise `UnknownNameError` unless `name` is something a command accepting `accepts` may be given."""
        if accepts == "suite":
            self.suite(name)
        elif accepts == "jenkins_job":
            self.jenkins_job(name)
        elif accepts == "runbook":
            self.runbook(name)
        elif accepts == "environment":
            if name not in self.environments():
                raise UnknownNameError("environment", name, closest_first(name, self.environments()))
        else:
            self.target(name, accepts)

    def alarm(self, name: str) -> tuple[str, AlarmRoute] | None:
        """The inventory key and route of an alarm: its exact name, else the longest prefix key; None if neither."""
        route = self.alarms.get(name)
        if route is not None and not route.prefix:
            return name, route
        prefixes = [key for key, r in self.alarms.items() if r.prefix and name.startswith(key)]
        if not prefixes:
            return None
        key = max(prefixes, key=len)
        return key, self.alarms[key]

    def environment_of(self, accepts: str, name: str) -> str | None:
        """The environment of what a command accepting `accepts` names, or None when the inventory does not have it."""
        if accepts == "suite":
            suite = self.suites.get(name)
            return suite.environment if suite else None
        if accepts == "jenkins_job":
            job = self.jenkins_jobs.get(name)
            return job.environment if job else None
        if accepts == "environment":
            return name if name in self.environments() else None
        if accepts == "runbook":
            runbook = self.runbooks.get(name)
            return runbook.environment if runbook else None
        target = self.targets.get(name)
        return target.environment if target else None

    def environment_named(self, name: str) -> str | None:
        """The environment of whatever the inventory calls `name` (a target, a suite, a Jenkins job), or `name`
        itself when it is an environment; None when it has nothing by that name."""
        for accepts in ("target", "suite", "jenkins_job", "runbook", "environment"):
            environment = self.environment_of(accepts, name)
            if environment is not None:
                return environment
        return None

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "inventory") -> Inventory:
        try:
            inventory = cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(_problem(err) for err in exc.errors())
            raise InventoryError(f"{source} is invalid: {problems}") from None
        build_models()  # at init, with the inventory: not on the first request
        return inventory

    @classmethod
    def from_toml(cls, text: str, *, source: str = "inventory") -> Inventory:
        import tomllib  # only with an inventory

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InventoryError(f"{source} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=source)


def _problem(err: Any) -> str:
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
    return target_kinds(taken=Target.model_fields)


def _can(target: Target, accepts: str) -> bool:
    if accepts in target.kinds:
        return True
    if accepts in plugin_kinds():
        return False
    match accepts:
        case "ecs":
            return target.ecs is not None
        case "restartable" | "status":
            return target.ecs is not None or target.ec2 is not None
        case "logs":
            return bool(target.log_groups)
        case "migration":
            return target.migration is not None
        case _:
            return True


def closest_first(name: str, known: list[str]) -> list[str]:
    """All of `known`, the most similar to `name` first (ties alphabetically)."""
    import difflib  # only to explain an unknown name

    lowered = name.lower()

    def score(candidate: str) -> tuple[float, str]:
        ratio = difflib.SequenceMatcher(None, lowered, candidate.lower()).ratio()
        prefix = 1.0 if candidate.lower().startswith(lowered[:3]) and lowered else 0.0
        return (-(ratio + 0.2 * prefix), candidate)

    return sorted(known, key=score)


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory file, or raise `InventoryError` naming the file and the bad key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"cannot read the inventory {path}: {exc.strerror or exc}") from None
    return Inventory.from_toml(text, source=str(path))
