"""The quotas IAM and CloudFormation enforce at deploy time, which synth, cdk-nag and cfn-lint do not check.

`measure(template)` reads a synthesized template and sizes every document a quota applies to, as the service
will see it after CloudFormation resolved the template: the intrinsic functions are rendered to the longest
text they can become (partition `aws-us-gov`, a 14-character region, a 12-digit account, a resource's generated
name as CloudFormation builds it from the stack name and logical id plus its 13 random characters, a secret's
6-character suffix). A figure is therefore an upper bound: a document that passes here passes on AWS.

IAM does not count whitespace (IAM and AWS STS quotas): a document is measured as compact JSON.
`QuotaCheck` is a CDK validation plugin (app.py adds it): a synth with any document over its quota fails with a
report naming the document, its size and the quota.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
)

from infra.aws.config import ConfigError

#: A role's inline policies, all together (IAM: "Role policy size").
ROLE_INLINE_CHARS = 10_240
#: One customer-managed policy.
MANAGED_POLICY_CHARS = 6_144
#: Managed policies attached to one role: 10 by default (adjustable up to 20). opsbot stays within the default.
MANAGED_POLICIES_PER_ROLE = 10
MANAGED_POLICIES_PER_ROLE_MAX = 20
#: Context naming the managed-policies-per-role quota of the accounts deployed to, when raised (10 to 20).
MANAGED_POLICIES_CONTEXT = "iamManagedPoliciesPerRole"
#: A role's trust policy (IAM: "Role trust policy length"; the default, adjustable to 4,096).
TRUST_POLICY_CHARS = 2_048
#: An SQS queue's access policy (SQS quotas: 8,192 bytes).
QUEUE_POLICY_BYTES = 8_192
#: An SNS topic's access policy (SNS quotas: 30 KiB).
TOPIC_POLICY_BYTES = 30_720
#: An EventBridge rule's event pattern (EventBridge quotas: 2,048 characters by default, adjustable to 4,096).
EVENT_PATTERN_CHARS = 2_048
#: CloudFormation: a template uploaded to S3 (what CDK deploys), and the resources of one stack.
TEMPLATE_BYTES = 1_048_576
STACK_RESOURCES = 500

_PSEUDO = {
    "AWS::Partition": "aws-us-gov",
    "AWS::Region": "ap-southeast-2",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com.cn",
    "AWS::NoValue": "",
}
#: The longest `arn:<partition>:<service>:<region>:<account>:<type>` a reference to a stack resource becomes
#: (a Secrets Manager secret: `arn:aws-us-gov:secretsmanager:ap-southeast-2:123456789012:secret:`).
_ARN_PREFIX = len("arn:aws-us-gov:secretsmanager:ap-southeast-2:123456789012:secret:")
#: CloudFormation's generated names end `-<13 random characters>`; a secret's ARN adds `-<6 characters>`.
_GENERATED_SUFFIX = len("-ABCDEFGHIJKLM") + len("-abcdef")
#: Where a resource type takes its own name, when the template gives one.
_NAME_PROPERTIES = ("RoleName", "ManagedPolicyName", "TableName", "QueueName", "TopicName", "FunctionName", "Name")


@dataclass(frozen=True)
class Figure:
    """One document (or count) a quota applies to, its size, and the quota."""

    stack: str
    logical_id: str
    what: str
    size: int
    quota: int
    unit: str = "characters"

    @property
    def over(self) -> bool:
        return self.size > self.quota

    def __str__(self) -> str:
        return f"{self.stack}/{self.logical_id} {self.what}: {self.size:,} of {self.quota:,} {self.unit}"


class _Renderer:
    """Intrinsic functions of one template rendered to their longest possible text."""

    def __init__(self, template: dict[str, Any], stack_name: str) -> None:
        self._resources: dict[str, Any] = template.get("Resources", {})
        self._parameters: dict[str, Any] = template.get("Parameters", {})
        self._stack = stack_name

    def text(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by a string (lists and objects kept)."""
        if isinstance(value, list):
            return [self.text(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Fn::GetAtt":
                logical_id = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
                return self._reference(str(logical_id))
            if key == "Fn::Join":
                separator, parts = arg
                rendered = self.text(parts)
                return str(separator).join(str(p) for p in rendered) if isinstance(rendered, list) else rendered
            if key == "Fn::Sub":
                template = arg[0] if isinstance(arg, list) else arg
                variables = self.text(arg[1]) if isinstance(arg, list) and len(arg) > 1 else {}
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(variables.get(m.group(1), self._sub(m.group(1)))),
                    str(template),
                )
            if key == "Fn::Select":
                index, items = arg
                rendered = self.text(items)
                return rendered[int(index)] if isinstance(rendered, list) and int(index) < len(rendered) else "x" * 64
            if key == "Fn::Split":
                separator, source = arg
                return str(self.text(source)).split(str(separator))
            if key in ("Fn::ImportValue", "Fn::GetAZs", "Fn::Base64", "Fn::FindInMap", "Fn::If"):
                return "x" * 256  # not used by opsbot's policies; a generous stand-in
        return {k: self.text(v) for k, v in value.items()}

    def _sub(self, name: str) -> str:
        if "." in name:
            return self._reference(name.split(".")[0])
        return self._ref(name)

    def _ref(self, name: str) -> str:
        if name in _PSEUDO:
            return _PSEUDO[name]
        if name == "AWS::StackName":
            return self._stack
        if name in self._parameters:
            default = self._parameters[name].get("Default")
            return str(default) if default is not None else "x" * 128
        return self._reference(name)

    def _reference(self, logical_id: str) -> str:
        """A resource's ARN (or name, or URL): its own name when the template gives one, else the name
        CloudFormation generates, inside the longest ARN prefix."""
        properties = self._resources.get(logical_id, {}).get("Properties", {})
        for key in _NAME_PROPERTIES:
            name = properties.get(key)
            if isinstance(name, str):
                path = properties.get("Path", "/") if key == "RoleName" else ""
                return "x" * _ARN_PREFIX + (path if isinstance(path, str) else "/") + name
        return "x" * _ARN_PREFIX + self._stack + "-" + logical_id + "x" * _GENERATED_SUFFIX


def document_size(document: Any) -> int:
    """A rendered policy document's size as IAM counts it: compact JSON, whitespace outside strings not counted."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def measure(
    template: dict[str, Any], stack_name: str, *, managed_per_role: int = MANAGED_POLICIES_PER_ROLE
) -> list[Figure]:
    """Every quota-bound figure of one stack's template, the template's own size and resource count included."""
    render = _Renderer(template, stack_name)
    resources: dict[str, Any] = template.get("Resources", {})
    figures = [
        Figure(stack_name, "(template)", "template", len(json.dumps(template).encode()), TEMPLATE_BYTES, "bytes"),
        Figure(stack_name, "(template)", "resources", len(resources), STACK_RESOURCES, "resources"),
    ]
    inline: dict[str, int] = {}
    managed: dict[str, int] = {}
    for logical_id, resource in resources.items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            trust = document_size(render.text(props.get("AssumeRolePolicyDocument", {})))
            figures.append(Figure(stack_name, logical_id, "trust policy", trust, TRUST_POLICY_CHARS))
            inline[logical_id] = inline.get(logical_id, 0) + sum(
                document_size(render.text(p["PolicyDocument"])) for p in props.get("Policies", [])
            )
            managed[logical_id] = managed.get(logical_id, 0) + len(props.get("ManagedPolicyArns", []))
        elif kind == "AWS::IAM::Policy":
            size = document_size(render.text(props["PolicyDocument"]))
            for role in _roles(props):
                inline[role] = inline.get(role, 0) + size
        elif kind == "AWS::IAM::ManagedPolicy":
            size = document_size(render.text(props["PolicyDocument"]))
            figures.append(Figure(stack_name, logical_id, "managed policy", size, MANAGED_POLICY_CHARS))
            for role in _roles(props):
                managed[role] = managed.get(role, 0) + 1
        elif kind == "AWS::SQS::QueuePolicy":
            size = len(json.dumps(render.text(props["PolicyDocument"]), separators=(",", ":")).encode())
            figures.append(Figure(stack_name, logical_id, "queue policy", size, QUEUE_POLICY_BYTES, "bytes"))
        elif kind == "AWS::SNS::TopicPolicy":
            size = len(json.dumps(render.text(props["PolicyDocument"]), separators=(",", ":")).encode())
            figures.append(Figure(stack_name, logical_id, "topic policy", size, TOPIC_POLICY_BYTES, "bytes"))
        elif kind == "AWS::Events::Rule" and "EventPattern" in props:
            pattern = props["EventPattern"]
            size = len(pattern) if isinstance(pattern, str) else len(json.dumps(render.text(pattern)))
            figures.append(Figure(stack_name, logical_id, "event pattern", size, EVENT_PATTERN_CHARS))
    for role, size in inline.items():
        figures.append(Figure(stack_name, role, "inline policies", size, ROLE_INLINE_CHARS))
    for role, count in managed.items():
        if role in resources:
            figures.append(Figure(stack_name, role, "managed policies attached", count, managed_per_role, "policies"))
    return figures


def _roles(props: dict[str, Any]) -> list[str]:
    """The logical ids of the stack's roles a policy is attached to (`Roles: [{"Ref": id}]`)."""
    return [r["Ref"] for r in props.get("Roles", []) if isinstance(r, dict) and "Ref" in r]


def managed_policies_per_role(context: object) -> int:
    """The quota the check applies: the default 10, or what context `iamManagedPoliciesPerRole` says (10 to 20,
    for accounts whose quota was raised)."""
    if context is None:
        return MANAGED_POLICIES_PER_ROLE
    try:
        value = int(str(context))
    except ValueError:
        value = 0
    if not MANAGED_POLICIES_PER_ROLE <= value <= MANAGED_POLICIES_PER_ROLE_MAX:
        raise ConfigError(
            f"{MANAGED_POLICIES_CONTEXT} is IAM's managed policies per role quota of the accounts deployed to: "
            f"{MANAGED_POLICIES_PER_ROLE} (the default) to {MANAGED_POLICIES_PER_ROLE_MAX}, not {context!r}"
        )
    return value


def over_quota(figures: list[Figure]) -> list[Figure]:
    return [f for f in figures if f.over]


def stack_name_of(template_path: str) -> str:
    """`cdk.out/Opsbot.template.json` -> `Opsbot`."""
    return Path(template_path).name.removesuffix(".template.json")


@jsii.implements(IPolicyValidationPlugin)
class QuotaCheck:
    """Fails the synth when a document of any stack would exceed its IAM or CloudFormation quota."""

    def __init__(self, *, managed_policies_per_role: int = MANAGED_POLICIES_PER_ROLE) -> None:
        self._managed_per_role = managed_policies_per_role

    @property
    def name(self) -> str:
        return "opsbot-quotas"

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        return ["opsbot-quota"]

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        violations = []
        for path in context.template_paths:
            template = json.loads(Path(path).read_text())
            figures = measure(template, stack_name_of(path), managed_per_role=self._managed_per_role)
            for figure in over_quota(figures):
                violations.append(
                    PolicyViolation(
                        rule_name="opsbot-quota",
                        description=f"over its quota: {figure}",
                        fix="Fewer targets per deployment (or per account role), or shorter names; "
                        "docs/deploying.md explains how the worker's permissions are packed.",
                        violating_resources=[
                            PolicyViolatingResource(
                                resource_logical_id=figure.logical_id, template_path=path, locations=[figure.what]
                            )
                        ],
                    )
                )
        return PolicyValidationPluginReport(success=not violations, violations=violations, plugin_version=self.version)


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.aws.quotas cdk.out/*.template.json`: every figure, the ones over their quota marked."""
    paths = argv if argv is not None else sys.argv[1:]
    worst = 0
    for path in paths:
        for figure in measure(json.loads(Path(path).read_text()), stack_name_of(path)):
            print(("OVER " if figure.over else "     ") + str(figure))
            worst = max(worst, int(figure.over))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
