"""The inventory: what each target name means (ECS service, EC2 instances, CodeBuild projects, log groups,
Jenkins jobs), read from a TOML file and validated at load. The Lambda assets carry the same file as JSON,
written when the stack is synthesized (`inventory_json`): a cold start parses it with
`json`, already loaded, instead of importing `tomllib`.

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

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationError, model_validator

from shared.errors import OpsbotError
from shared.inventory_entries import (
    Account,
    AlarmKey,
    AlarmRoute,
    Intake,
    InventoryModel,
    JenkinsJob,
    Name,
    Suite,
    Target,
    parse_command_line,
    plugin_kinds,
    validation_problem,
)
from shared.policy import Policy, build_models
from shared.runbooks import Runbook


class InventoryError(OpsbotError):
    """The inventory file is missing, not TOML (or JSON), or does not validate (the message names the bad key)."""


class UnknownNameError(OpsbotError):
    """A command named something the inventory does not have (or that cannot do what was asked)."""

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        self.what, self.name, self.known = what, name, known
        listed = ", ".join(f"`{k}`" for k in known) if known else "none are configured"
        super().__init__(f"I don't know {what} `{name}`. Known {what}s, closest first: {listed}")


class Inventory(InventoryModel):
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
        """Every IAM role the worker may assume for a target or a runbook's existing state machine, sorted (what
        its `sts:AssumeRole` grant names)."""
        roles = {t.role_arn for t in self.targets.values()}
        roles |= {self.accounts[b.account].role_arn for b in self.runbooks.values() if b.account is not None}
        return sorted(r for r in roles if r is not None)

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
            problems = "; ".join(validation_problem(err) for err in exc.errors())
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


def inventory_json(toml_content: bytes) -> bytes:
    """The inventory as the Lambda assets ship it (the CDK app writes it at synth): the TOML file's tables and values
    as JSON, so a cold start parses it with `json`, loaded anyway, instead of importing `tomllib`. The file people
    edit stays the TOML one; this is derived from it at every synth."""
    import tomllib

    try:
        data = tomllib.loads(toml_content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InventoryError(f"the inventory is not valid TOML: {exc}") from None

    def refuse(value: Any) -> Any:
        raise InventoryError(
            f"the inventory holds {value!r}, a TOML {type(value).__name__} JSON cannot carry: write it as a string"
        )

    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=refuse).encode("utf-8")


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory file, or raise `InventoryError` naming the file and the bad key. A `.json`
    file is the inventory as the Lambda assets ship it; any other is TOML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"cannot read the inventory {path}: {exc.strerror or exc}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InventoryError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InventoryError(f"{path} is not an inventory: a JSON object was expected")
        return Inventory.from_mapping(data, source=str(path))
    return Inventory.from_toml(text, source=str(path))
