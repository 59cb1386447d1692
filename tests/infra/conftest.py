"""The CDK app is synthesized once per session (jsii start-up and synth take seconds), with bundling skipped.

`aws:cdk:bundling-stacks = []` makes CDK stage each asset's source directory instead of running
the pip bundler: no network, no pip, same template apart from the asset hashes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The jsii runtime prints a banner on Node versions past their end of life; it is not a test result.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}

ROOT = Path(__file__).resolve().parents[2]

#: The context `cdk synth` gets from cdk.json (feature flags): the tests synthesize what deploys.
CDK_JSON_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]

#: The example inventory at the repository root, deployed as `-c inventory=... -c jenkinsUrl=...` would.
EXAMPLE_INVENTORY = ROOT / "inventory.example.toml"
JENKINS_URL = "https://jenkins.example.com"
DEPLOY_CONTEXT: dict[str, Any] = {"inventory": str(EXAMPLE_INVENTORY), "jenkinsUrl": JENKINS_URL}


@dataclass(frozen=True)
class Synthesized:
    app: Any
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == resource_type}

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.resolve(construct.node.default_child.logical_id))


def synthesize(**context: Any) -> Synthesized:
    """The app as `cdk synth` builds it with cdk.json's context plus `context` (bundling skipped)."""
    pytest.importorskip("aws_cdk")
    pytest.importorskip("cdk_nag")
    from aws_cdk.assertions import Template

    from infra.aws.app import build_app

    app, stack = build_app({**CDK_JSON_CONTEXT, **SKIP_BUNDLING, **context})
    template = Template.from_stack(stack)
    return Synthesized(app=app, stack=stack, template=template, json=dict(template.to_json()))


@pytest.fixture(scope="session")
def synth() -> Synthesized:
    """The stack deployed with the example inventory."""
    return synthesize(**DEPLOY_CONTEXT)


#: Another deployment's inventory: other services, two tag keys, a suite; no log groups, pipeline,
#: migration or Jenkins jobs.
OTHER_INVENTORY = """\
version = 1

[targets.api]
ecs = { cluster = "prod-apps", service = "api" }

[targets.bastion]
ec2 = { tag = "Name", value = "bastion" }

[targets.jumphost]
ec2 = { tag = "Name", value = "jump" }

[targets.batch]
ec2 = { tag = "Role", value = "batch-worker" }

[suites.nightly]
codebuild_project = "nightly-e2e"
"""


@pytest.fixture(scope="session")
def other(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The same stack deployed with OTHER_INVENTORY (and no jenkinsUrl: it has no Jenkins jobs)."""
    path = tmp_path_factory.mktemp("inventory") / "inventory.toml"
    path.write_text(OTHER_INVENTORY)
    return synthesize(inventory=str(path))
