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

#: The context `cdk synth` gets from cdk.json (feature flags, ecsCluster): the tests synthesize what deploys.
CDK_JSON_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


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


@pytest.fixture(scope="session")
def synth() -> Synthesized:
    pytest.importorskip("aws_cdk")
    pytest.importorskip("cdk_nag")
    from aws_cdk.assertions import Template

    from infra.aws.app import build_app

    app, stack = build_app({**CDK_JSON_CONTEXT, **SKIP_BUNDLING})
    template = Template.from_stack(stack)
    return Synthesized(app=app, stack=stack, template=template, json=dict(template.to_json()))
