"""The AWS permissions an operation declares: which actions, on which kind of inventory resource.

The CDK app grants the worker exactly the union of the operations' declarations, each scoped to the
resources of its kind the inventory names (`infra/aws/worker_permissions.py`); an action AWS authorizes on
"*" only is declared `unscoped` and granted on "*" only when the inventory has a resource of its kind. The
registry checks that an operation declares every action its code calls, and no other
(`worker_function.operations.source_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

#: The inventory resources a grant can be scoped to, and what scopes it:
#: ecs_service: the services of `ecs` targets; ec2_instances: the instances tagged as `ec2` targets say (a tag
#: condition); log_group: targets' `log_groups`; codebuild_project: migration and suite projects;
#: report_group: the report groups of suite projects; pipeline: targets' `pipeline`; state_machine: the state
#: machines of the runbooks (deployed by the stack, or named by ARN in the worker's account); execution: their
#: executions. A plugin's target kind (`cloudfront`) is one too: the resources its tables name (`TargetKind.arn`).
ResourceKind = Literal[
    "ecs_service",
    "ec2_instances",
    "log_group",
    "codebuild_project",
    "report_group",
    "pipeline",
    "state_machine",
    "execution",
]
RESOURCE_KINDS: tuple[ResourceKind, ...] = get_args(ResourceKind)


@dataclass(frozen=True)
class Grant:
    """AWS actions an operation calls on one kind of inventory resource."""

    actions: tuple[str, ...]
    #: A `ResourceKind`, or a target kind a plugin declares (`shared.plugins.TargetKind`: its resources' ARNs).
    on: ResourceKind | str
    #: AWS authorizes these on "*" only (no resource types in the Service Authorization Reference).
    unscoped: bool = False
    #: Actions named like writes that change nothing at the target (logs:StartQuery runs a query): they need no
    #: intent (the effect door is for changes).
    changes_nothing: bool = False

    def __post_init__(self) -> None:
        if self.on not in RESOURCE_KINDS:
            # a plugin's target kind: its operation declares grants on it
            from shared.inventory_entries import plugin_kinds

            if self.on not in plugin_kinds():
                known = ", ".join([*RESOURCE_KINDS, *plugin_kinds()])
                raise ValueError(f"{self.on!r} is not a resource kind ({known})")
        for action in self.actions:
            service, _, name = action.partition(":")
            if not service or not name or not name[0].isupper() or "*" in action:
                raise ValueError(f"{action!r} is not an IAM action such as ecs:DescribeServices (no wildcards)")
