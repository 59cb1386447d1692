"""Deployment choices from CDK context."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk import App

from infra.aws.config import DEFAULT_ECS_CLUSTER, ConfigError, DeployConfig


def test_given_no_context_then_the_ecs_cluster_is_the_placeholder():
    assert DeployConfig.from_context(App().node).ecs_cluster == DEFAULT_ECS_CLUSTER


def test_given_an_ecs_cluster_in_context_then_it_is_used():
    assert DeployConfig.from_context(App(context={"ecsCluster": "prod-apps_1"}).node).ecs_cluster == "prod-apps_1"


@pytest.mark.parametrize("cluster", ["prod/apps", "a b", "x" * 256, "*"])
def test_given_a_malformed_cluster_name_then_synth_stops(cluster):
    with pytest.raises(ConfigError, match="ecsCluster"):
        DeployConfig.from_context(App(context={"ecsCluster": cluster}).node)
