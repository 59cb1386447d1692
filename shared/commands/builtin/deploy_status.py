"""/deploy-status <target>: a service's deployments and pipeline stages."""

from __future__ import annotations

from typing import Literal

from shared.commands.spec import CommandSpec, TargetArgs


class DeployStatusArgs(TargetArgs):
    kind: Literal["deploy_status"] = "deploy_status"


SPEC = CommandSpec(
    name="/deploy-status",
    args_model=DeployStatusArgs,
    description="A service's ECS deployments (rollout state, running/desired, task definition) and its "
    "CodePipeline stages.",
    positional=("target",),
    usage_hint="<target>",
    subject="target",
    accepts="ecs",
    reads_only=True,
    rank=30,
)
