"""A role's statements packed within IAM's quotas, least privilege kept.

IAM allows a role 10,240 characters of inline policy in all and 6,144 per customer-managed policy, 10 of them
per role by default (infra/aws/quotas.py). The worker's statements name every resource of the inventory (an
ECS service, a log group, a project, a pipeline: about 60-90 characters each once resolved), so a few dozen
targets fill the inline policy. Packing keeps every statement exactly as derived (plain Allow statements, the
same actions on the same ARNs, the same tag conditions) and only moves them between documents:

1. Everything fits inline: one inline policy, as for a small inventory.
2. Otherwise the role's own statements (`statements`: its queue, tables, secret, log group) stay inline, and
   the packable ones (`packed`: the operations') fill the rest of the inline policy and then customer-managed
   policies attached to the role, each under 6,144 characters. A statement whose resources do not fit in one
   document is split into statements with the same actions and conditions, each naming a part of the list.

Sizes are measured as infra/aws/quotas.py measures them (longest partition, region and generated names), with a
margin per document, so the synth-time check passes whatever packing decided.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.aws.nag import acknowledge
from infra.aws.quotas import MANAGED_POLICY_CHARS, ROLE_INLINE_CHARS, _Renderer, document_size

#: Left free in each document, for what resolution might add beyond the measured bound.
MARGIN = 128
#: `{"Version":"2012-10-17","Statement":[]}`
_DOCUMENT_OVERHEAD = document_size({"Version": "2012-10-17", "Statement": []})


@dataclass
class Packed:
    """Where each statement went: the inline document and the managed policies' documents, in order."""

    inline: list[iam.PolicyStatement] = field(default_factory=list)
    managed: list[list[iam.PolicyStatement]] = field(default_factory=list)


@dataclass
class _Group:
    """Statements that differ only by resource: one action set, one set of conditions."""

    actions: list[str]
    conditions: dict[str, Any] | None
    resources: list[str]
    overhead: int
    sizes: list[int]


def _statement(group: _Group, resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(group.actions), resources=list(resources), conditions=group.conditions)


def pack(scope: Construct, statements: Sequence[iam.PolicyStatement], packed: Sequence[iam.PolicyStatement]) -> Packed:
    """`statements` inline; `packed` inline too when all fits, else spread over the inline rest and managed
    policies (see the module's docstring)."""
    stack = Stack.of(scope)
    render = _Renderer({}, stack.stack_name)

    def size_of(value: Any) -> int:
        return len(json.dumps(render.text(stack.resolve(value)), separators=(",", ":"), ensure_ascii=False))

    def statements_size(items: Sequence[iam.PolicyStatement]) -> int:
        return sum(size_of(s.to_statement_json()) + 1 for s in items)

    own = statements_size(statements)
    everything = own + statements_size(packed)
    if _DOCUMENT_OVERHEAD + everything + MARGIN <= ROLE_INLINE_CHARS:
        return Packed(inline=[*statements, *packed])

    groups: list[_Group] = []
    for statement in packed:
        as_json = statement.to_statement_json()
        conditions = as_json.get("Condition")
        resources = list(statement.resources)
        empty = iam.PolicyStatement(actions=list(statement.actions), resources=["x"], conditions=conditions)
        groups.append(
            _Group(
                actions=list(statement.actions),
                conditions=conditions,
                resources=resources,
                overhead=size_of(empty.to_statement_json()) - len('"x"') + 1,
                sizes=[size_of(r) + 1 for r in resources],
            )
        )

    result = Packed(inline=list(statements))
    budgets = [ROLE_INLINE_CHARS - MARGIN - _DOCUMENT_OVERHEAD - own]
    documents: list[list[iam.PolicyStatement]] = [result.inline]
    free = budgets[0]
    for group in groups:
        chunk: list[str] = []
        for resource, size in zip(group.resources, group.sizes, strict=True):
            needed = size + (group.overhead if not chunk else 0)
            if needed > free:
                if chunk:
                    documents[-1].append(_statement(group, chunk))
                    chunk = []
                documents.append([])
                free = MANAGED_POLICY_CHARS - MARGIN - _DOCUMENT_OVERHEAD
                needed = size + group.overhead
            chunk.append(resource)
            free -= needed
        if chunk:
            documents[-1].append(_statement(group, chunk))
    result.managed = [d for d in documents[1:] if d]
    return result


def nag_resource(stack: Stack, resource: str) -> str:
    """A resource as cdk-nag names it in a finding (`arn:<AWS::Partition>:logs:<AWS::Region>:...`)."""

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            return f"<{value['Ref']}>"
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(text(p) for p in parts)
        return json.dumps(value)

    return text(stack.resolve(resource))


def packed_role(
    scope: Construct,
    role_id: str,
    *,
    assumed_by: iam.IPrincipal,
    description: str,
    statements: Sequence[iam.PolicyStatement] = (),
    packed: Sequence[iam.PolicyStatement] = (),
    wildcards: Sequence[tuple[str, str]] = (),
    role_name: str | None = None,
    path: str | None = None,
) -> tuple[iam.Role, list[iam.ManagedPolicy]]:
    """A role holding `statements` inline and `packed` wherever `pack` put them. The customer-managed policies
    (`<role_id>Permissions<n>`) are attached by the role itself (`ManagedPolicyArns`), so whatever depends on the
    role (a function, its event source) waits for them too. `wildcards` are the cdk-nag findings to acknowledge
    with their reason, each on the document that holds it."""
    stack = Stack.of(scope)
    placed = pack(scope, statements, packed)
    policies = [
        iam.ManagedPolicy(
            scope,
            f"{role_id}Permissions{n}",
            description=f"{description} ({n} of {len(placed.managed)})"[:1000],
            document=iam.PolicyDocument(statements=document),
        )
        for n, document in enumerate(placed.managed, start=1)
    ]
    role = iam.Role(
        scope,
        role_id,
        assumed_by=assumed_by,
        role_name=role_name,
        path=path,
        description=description,
        inline_policies={"opsbot": iam.PolicyDocument(statements=placed.inline)} if placed.inline else None,
        managed_policies=list(policies) or None,
    )
    findings = dict(wildcards)
    holders: list[tuple[Construct, list[iam.PolicyStatement]]] = [(role, placed.inline)]
    holders += list(zip(policies, placed.managed, strict=True))
    for holder, document in holders:
        names = {nag_resource(stack, r) for s in document for r in s.resources}
        for resource, reason in findings.items():
            if resource in names:
                acknowledge(holder, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
    return role, policies


def statements_of_role(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement the template grants the role `role_id`: its inline policies, the AWS::IAM::Policy
    resources attached to it, and the template's customer-managed policies it lists or that list it."""
    resources: dict[str, Any] = template.get("Resources", {})
    role = resources[role_id]["Properties"]
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    attached = {a["Ref"] for a in role.get("ManagedPolicyArns", []) if isinstance(a, dict) and "Ref" in a}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        listed = {"Ref": role_id} in props.get("Roles", [])
        if (resource["Type"] == "AWS::IAM::Policy" and listed) or (
            resource["Type"] == "AWS::IAM::ManagedPolicy" and (listed or logical_id in attached)
        ):
            documents.append(props["PolicyDocument"])
    statements: list[dict[str, Any]] = []
    for document in documents:
        found = document["Statement"]
        statements.extend(found if isinstance(found, list) else [found])
    return statements
