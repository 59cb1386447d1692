"""Deployment choices read from CDK context (`cdk.json` or `cdk deploy -c key=value`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from constructs import Node

#: The ECS cluster whose services the worker may describe and update. A placeholder until set.
DEFAULT_ECS_CLUSTER = "opsbot-demo"

#: Cluster names: up to 255 letters, numbers, hyphens and underscores (ECS CreateCluster).
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class ConfigError(ValueError):
    """A context value is missing or malformed."""


@dataclass(frozen=True)
class DeployConfig:
    """What differs between deployments of the same stack."""

    ecs_cluster: str = DEFAULT_ECS_CLUSTER

    @classmethod
    def from_context(cls, node: Node) -> DeployConfig:
        cluster = node.try_get_context("ecsCluster") or DEFAULT_ECS_CLUSTER
        if not isinstance(cluster, str) or not _CLUSTER_NAME.match(cluster):
            raise ConfigError(f"context ecsCluster must be an ECS cluster name, got {cluster!r}")
        return cls(ecs_cluster=cluster)
