"""The worker's permissions on what its operations act on, derived at synth from what each operation declares
(its `permissions`: AWS actions per kind of inventory resource, `worker_function/operations/iam.py`) and the
inventory's resources of each kind.

Loading the declarations checks every operation, its source included (`registry.check_all`): an operation
whose code calls an action it does not declare, or changes a target outside its effects, fails the synth,
naming the command and the rule. Every resource-scoped action is granted on exactly the resources the
inventory names; `*` is kept only for the actions AWS authorizes on `*` alone (no resource types in the
Service Authorization Reference). Each remaining wildcard comes with its cdk-nag acknowledgement and the reason for it.
A statement whose resources the inventory does not have is left out (no targets with log groups:
no Logs permission at all).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from shared.inventory import Inventory, InventoryError
from shared.inventory_entries import plugin_kinds
from shared.runbooks import state_machine_name
from worker_function.operations.iam import RESOURCE_KINDS, Grant, ResourceKind

#: The order the unscoped ("*") actions are listed in, by the kind of resource that brings them.
_UNSCOPED_ORDER: tuple[ResourceKind, ...] = ("ec2_instances", "log_group", "ecs_service")


@functools.cache
def declared_grants() -> tuple[tuple[str, Grant], ...]:
    """Every operation's grants, with the command declaring each; every operation checked first, its source
    included (`OperationLoadError` naming the command and the rule fails the synth)."""
    from worker_function.operations.registry import check_all

    return tuple((command.label, grant) for command in check_all() for grant in command.operation.permissions)


def actions_on(kind: str, *, unscoped: bool = False) -> tuple[str, ...]:
    """The actions the operations declare on `kind` (those AWS authorizes on "*" only, with `unscoped`), sorted."""
    return tuple(
        sorted({a for _, g in declared_grants() if g.on == kind and g.unscoped == unscoped for a in g.actions})
    )


#: The names the actions of each kind go by (tests and docs): all derived from the declarations.
_NAMED: dict[str, tuple[ResourceKind, bool]] = {
    "ECS_ACTIONS": ("ecs_service", False),
    "EC2_REBOOT_ACTIONS": ("ec2_instances", False),
    "EC2_READ_ACTIONS": ("ec2_instances", True),
    "LOGS_ACTIONS": ("log_group", False),
    "QUERY_RESULTS_ACTIONS": ("log_group", True),
    "TASK_DEFINITION_READ_ACTIONS": ("ecs_service", True),
    "CODEBUILD_ACTIONS": ("codebuild_project", False),
    "REPORT_ACTIONS": ("report_group", False),
    "PIPELINE_ACTIONS": ("pipeline", False),
}


def __getattr__(name: str) -> tuple[str, ...]:
    """`ECS_ACTIONS` and the like, and `UNSCOPED_ACTIONS` (every action that may get a bare "*"), read from the
    declarations when first asked for (loading them imports every operation)."""
    if name in _NAMED:
        kind, unscoped = _NAMED[name]
        return actions_on(kind, unscoped=unscoped)
    if name == "UNSCOPED_ACTIONS":
        return tuple(a for kind in RESOURCE_KINDS for a in actions_on(kind, unscoped=True))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: How cdk-nag renders a regional ARN of this stack in a finding id (`region`: the stack's, or a target's own).
_NAG_ARN = "arn:<AWS::Partition>:{service}:{region}:<AWS::AccountId>:{resource}"
#: The worker assumes the roles the inventory names for targets in other accounts (worker_function/accounts.py).
ASSUME_ROLE_ACTIONS = ("sts:AssumeRole",)

#: A log group's ARN as IAM policies name it for StartQuery and most other actions: with a trailing
#: `:*` (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html).
_LOG_GROUP_SUFFIX = ":*"


#: What each service accepts as a name (its Create* API reference). Checked at synth because these names
#: end up in IAM resource ARNs, where `*` or `?` would widen a grant to resources the inventory never named.
_ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_LOG_GROUP_NAME = re.compile(r"^[A-Za-z0-9._/#-]{1,512}$")
_CODEBUILD_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$")
_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")


def check_resource_names(inventory: Inventory, *, source: str = "inventory") -> None:
    """`InventoryError` naming the key of the first name its service would refuse (and that IAM could read
    as a wildcard), in the loader's format."""
    problems: list[str] = []

    def check(key: str, value: str, pattern: re.Pattern[str], what: str) -> None:
        if not pattern.match(value):
            problems.append(f"{key}: {value!r} is not a valid {what} name")

    for name, target in inventory.targets.items():
        if target.ecs is not None:
            check(f"targets.{name}.ecs.cluster", target.ecs.cluster, _ECS_NAME, "ECS cluster")
            check(f"targets.{name}.ecs.service", target.ecs.service, _ECS_NAME, "ECS service")
        for i, group in enumerate(target.log_groups):
            check(f"targets.{name}.log_groups.{i}", group, _LOG_GROUP_NAME, "CloudWatch Logs log group")
        if target.pipeline is not None:
            check(f"targets.{name}.pipeline", target.pipeline, _PIPELINE_NAME, "CodePipeline pipeline")
        if target.migration is not None:
            project = target.migration.codebuild_project
            check(f"targets.{name}.migration.codebuild_project", project, _CODEBUILD_PROJECT, "CodeBuild project")
    for name, suite in inventory.suites.items():
        check(f"suites.{name}.codebuild_project", suite.codebuild_project, _CODEBUILD_PROJECT, "CodeBuild project")
    if problems:
        raise InventoryError(f"{source} is invalid: {'; '.join(problems)}")


@dataclass(frozen=True)
class InventoryResources:
    """The AWS resources the inventory names, per kind, sorted and without duplicates."""

    #: (cluster, service)
    ecs_services: tuple[tuple[str, str], ...] = ()
    #: tag key -> the values that name instance targets: (key, (value, ...))
    instance_tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    log_groups: tuple[str, ...] = ()
    #: Migration and regression projects (StartBuild, BatchGetBuilds).
    codebuild_projects: tuple[str, ...] = ()
    #: Regression projects only: the ones whose test reports are read.
    report_projects: tuple[str, ...] = ()
    pipelines: tuple[str, ...] = ()
    #: The runbooks' state machines in the worker's account: a name (deployed by this stack) or an ARN.
    state_machines: tuple[str, ...] = ()
    #: The tables of the plugins' target kinds (`shared.plugins.TargetKind`), by kind: (key, (table, ...)).
    plugin_tables: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @classmethod
    def of(cls, inventory: Inventory, *, role_arn: str | None = None, region: str | None = None) -> InventoryResources:
        """The resources of the targets reached through `role_arn` in `region` (None, None: the worker's own
        account and region, where the suites are too)."""
        targets = [t for t in inventory.targets.values() if t.role_arn == role_arn and t.region == region]
        own = role_arn is None and region is None
        tags: dict[str, set[str]] = {}
        for target in targets:
            if target.ec2 is not None:
                tags.setdefault(target.ec2.tag, set()).add(target.ec2.value)
        suites = {s.codebuild_project for s in inventory.suites.values()} if own else set()
        migrations = {t.migration.codebuild_project for t in targets if t.migration is not None}
        return cls(
            ecs_services=tuple(sorted({(t.ecs.cluster, t.ecs.service) for t in targets if t.ecs is not None})),
            instance_tags=tuple((key, tuple(sorted(values))) for key, values in sorted(tags.items())),
            log_groups=tuple(sorted({g for t in targets for g in t.log_groups})),
            codebuild_projects=tuple(sorted(suites | migrations)),
            report_projects=tuple(sorted(suites)),
            pipelines=tuple(sorted({t.pipeline for t in targets if t.pipeline})),
            state_machines=tuple(sorted(_state_machines(inventory, role_arn, region))),
            plugin_tables=tuple(
                (key, tuple(t.kinds[key] for t in targets if key in t.kinds))
                for key in sorted(plugin_kinds())
                if any(key in t.kinds for t in targets)
            ),
        )

    def has(self, kind: str) -> bool:
        """Whether the inventory names a resource of `kind` here."""
        if kind not in RESOURCE_KINDS:
            return any(key == kind for key, _ in self.plugin_tables)
        return bool(
            {
                "ecs_service": self.ecs_services,
                "ec2_instances": self.instance_tags,
                "log_group": self.log_groups,
                "codebuild_project": self.codebuild_projects,
                "report_group": self.report_projects,
                "pipeline": self.pipelines,
                "state_machine": self.state_machines,
                "execution": self.state_machines,
            }[kind]
        )

    @property
    def unscoped_actions(self) -> tuple[str, ...]:
        """The actions granted on "*": only those declared on a kind of resource this inventory has."""
        order = [
            *_UNSCOPED_ORDER,
            *(k for k in RESOURCE_KINDS if k not in _UNSCOPED_ORDER),
            *(key for key, _ in self.plugin_tables),
        ]
        return tuple(a for kind in order if self.has(kind) for a in actions_on(kind, unscoped=True))


def runbook_placement(inventory: Inventory, name: str) -> tuple[str | None, str | None]:
    """(role ARN, region) a runbook's state machine is reached through: its `account`'s, else the worker's own
    (None, None), as a target's placement is."""
    book = inventory.runbooks[name]
    if book.account is None:
        return None, None
    account = inventory.accounts[book.account]
    return account.role_arn, account.region


def _state_machines(inventory: Inventory, role_arn: str | None, region: str | None) -> set[str]:
    """The runbooks' state machines reached through `role_arn` in `region`: the stack's (by name; in the worker's
    own account) and the existing ones (by ARN), in the worker's account or through another account's role."""
    found: set[str] = set()
    for name, book in inventory.runbooks.items():
        if runbook_placement(inventory, name) != (role_arn, region):
            continue
        if book.definition is not None:
            found.add(state_machine_name(name))
        elif book.state_machine_arn is not None:
            found.add(book.state_machine_arn)
    return found


@dataclass
class OperationPermissions:
    """The statements, and the cdk-nag findings they raise with the reason each is acknowledged."""

    statements: list[iam.PolicyStatement] = field(default_factory=list)
    #: (the finding's resource as cdk-nag renders it, the reason)
    wildcards: list[tuple[str, str]] = field(default_factory=list)


def placements(inventory: Inventory) -> list[tuple[str | None, str | None]]:
    """Every (role ARN, region) the inventory's targets and runbooks are reached through; (None, None) first,
    always."""
    found = {(t.role_arn, t.region) for t in inventory.targets.values()}
    found |= {runbook_placement(inventory, name) for name in inventory.runbooks}
    found -= {(None, None)}
    return [(None, None), *sorted(found, key=lambda p: (p[0] or "", p[1] or ""))]


def operation_permissions(
    scope: Construct, resources: InventoryResources, *, region: str | None = None
) -> OperationPermissions:
    """What the worker's operations may call, on exactly the inventory's resources (in `region`, when it is
    not the stack's own)."""
    declared_grants()  # every operation checked, whatever the inventory: one breaking a rule fails the synth
    stack = Stack.of(scope)
    result = OperationPermissions()
    nag_region = region or "<AWS::Region>"

    def format_arn(**parts: Any) -> str:
        return stack.format_arn(region=region, **parts)

    def add(actions: tuple[str, ...], arns: list[str], conditions: dict[str, Any] | None = None) -> None:
        if not actions:  # no operation declares any on this kind of resource
            return
        result.statements.append(iam.PolicyStatement(actions=list(actions), resources=arns, conditions=conditions))

    if resources.ecs_services:
        add(
            actions_on("ecs_service"),
            [
                format_arn(service="ecs", resource="service", resource_name=f"{cluster}/{service}")
                for cluster, service in resources.ecs_services
            ],
        )

    if resources.instance_tags:
        # One statement per tag key: values of one key are alternatives (StringEquals on a list), while
        # two keys in one condition would have to match together.
        for key, values in resources.instance_tags:
            add(
                actions_on("ec2_instances"),
                [format_arn(service="ec2", resource="instance", resource_name="*")],
                conditions={"StringEquals": {f"aws:ResourceTag/{key}": list(values)}},
            )
        tags = "; ".join(f"aws:ResourceTag/{key} in {', '.join(values)}" for key, values in resources.instance_tags)
        result.wildcards.append(
            (
                _NAG_ARN.format(region=nag_region, service="ec2", resource="instance/*"),
                "ec2:RebootInstances only on instances carrying the inventory's tags (condition "
                f"{tags}). The instances of a target are named by their tag, not their ids, which change "
                "whenever an instance is replaced.",
            )
        )

    unscoped = resources.unscoped_actions
    if unscoped:
        add(unscoped, ["*"])
        reads = [
            *(["the state and status checks of the inventory's instances"] if resources.instance_tags else []),
            *(
                ["the results of a Logs Insights query started on the inventory's log groups"]
                if resources.log_groups
                else []
            ),
            *(["the task definition revisions /ops-rollback chooses from"] if resources.ecs_services else []),
        ]
        result.wildcards.append(
            (
                "*",
                f"{', '.join(unscoped)} have no resource-level permissions in the Service Authorization Reference: "
                f"AWS authorizes them on * only. Read only: {' and '.join(reads)}.",
            )
        )

    if resources.log_groups:
        add(
            actions_on("log_group"),
            [
                format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=group + _LOG_GROUP_SUFFIX,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                for group in resources.log_groups
            ],
        )
        result.wildcards.extend(
            (
                _NAG_ARN.format(region=nag_region, service="logs", resource=f"log-group:{group}{_LOG_GROUP_SUFFIX}"),
                f"logs:StartQuery on the inventory's log group {group} and nothing else: CloudWatch Logs "
                "authorizes it on the log group ARN with its trailing :* (Logs access control overview).",
            )
            for group in resources.log_groups
        )

    if resources.codebuild_projects:
        add(
            actions_on("codebuild_project"),
            [
                format_arn(service="codebuild", resource="project", resource_name=project)
                for project in resources.codebuild_projects
            ],
        )

    if resources.report_projects:
        add(
            actions_on("report_group"),
            [
                format_arn(service="codebuild", resource="report-group", resource_name=f"{project}-*")
                for project in resources.report_projects
            ],
        )
        result.wildcards.extend(
            (
                _NAG_ARN.format(region=nag_region, service="codebuild", resource=f"report-group/{project}-*"),
                f"codebuild:BatchGetReports (read only) on the report groups of the suite project {project}: "
                "CodeBuild names a report group created from a buildspec <project>-<report name>, and the report "
                "names live in the buildspec, not the inventory.",
            )
            for project in resources.report_projects
        )

    if resources.pipelines:
        add(
            actions_on("pipeline"),
            [
                format_arn(service="codepipeline", resource=pipeline, arn_format=ArnFormat.NO_RESOURCE_NAME)
                for pipeline in resources.pipelines
            ],
        )

    if resources.state_machines:
        machines = [
            m
            if m.startswith("arn:")
            else format_arn(
                service="states", resource="stateMachine", resource_name=m, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            for m in resources.state_machines
        ]
        add(actions_on("state_machine"), machines)
        executions = [m.replace(":stateMachine:", ":execution:", 1) + ":*" for m in machines]
        add(actions_on("execution"), executions)
        result.wildcards.extend(
            (
                _NAG_ARN.format(region=nag_region, service="states", resource=f"execution:{m}:*")
                if not m.startswith("arn:")
                else f"{m.replace(':stateMachine:', ':execution:', 1)}:*",
                f"{', '.join(actions_on('execution'))} on the executions of the runbook state machine {m} only: an "
                "execution's ARN ends with its name, made per job.",
            )
            for m in resources.state_machines
        )

    kinds = plugin_kinds()
    for key, tables in resources.plugin_tables:  # a plugin's target kind: the ARNs its tables name
        arn = kinds[key].arn
        if arn is not None:
            add(actions_on(key), sorted({arn(table, stack.partition, stack.account) for table in tables}))
    return result
