"""IAM policy evaluation for the local stack: does a role's identity policy allow an action on a resource?

What AWS does for one account's identity-based policies (docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic.html): an explicit Deny wins, else an Allow whose Action (or NotAction),
Resource (or NotResource) and Condition all match, else the request is implicitly denied. Actions match
case-insensitively, resources case-sensitively, `*` and `?` are wildcards in both.

Conditions: the operators opsbot's policies use (String*, Arn*, Bool, with `...IfExists`); any other operator
raises `UnsupportedPolicy`, so a policy the local check cannot judge fails loudly instead of passing.
Pure Python (no moto): the moto server's check (`infra.devstack.moto_iam`) and the unit tests use it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

Decision = Literal["allow", "deny", "implicit-deny"]


class UnsupportedPolicy(ValueError):
    """A policy element the local evaluation does not know: refusing beats guessing."""


@lru_cache(maxsize=4096)
def _glob(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # IAM wildcards: `*` any run of characters (`/` and `:` included), `?` one character; nothing else special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    return _glob(pattern, case_sensitive).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


_OPERATORS = frozenset(
    {
        "StringEquals",
        "ArnEquals",
        "StringEqualsIgnoreCase",
        "StringLike",
        "ArnLike",
        "StringNotEquals",
        "ArnNotEquals",
        "StringNotLike",
        "ArnNotLike",
        "Bool",
    }
)


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Sequence[str]]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base not in _OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator} is not evaluated locally")
    values = context.get(key) if key in context else context.get(key.lower())
    if values is None:
        # A key absent from the request: `...IfExists` holds, the others fail (Null is not used by opsbot).
        return if_exists
    wanted = [str(v) for v in _as_list(expected)]
    actual = [str(v) for v in values]
    if base in ("StringEquals", "ArnEquals"):
        return any(a == w for a in actual for w in wanted)
    if base == "StringEqualsIgnoreCase":
        return any(a.lower() == w.lower() for a in actual for w in wanted)
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(a, w) for a in actual for w in wanted)
    if base in ("StringNotEquals", "ArnNotEquals"):
        return all(a != w for a in actual for w in wanted)
    if base in ("StringNotLike", "ArnNotLike"):
        return all(not fnmatch.fnmatchcase(a, w) for a in actual for w in wanted)
    if base == "Bool":
        return any(a.lower() == w.lower() for a in actual for w in wanted)
    raise UnsupportedPolicy(f"condition operator {operator} is not evaluated locally")


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, Sequence[str]]) -> bool:
    for operator, clauses in conditions.items():
        if operator.startswith(("ForAnyValue:", "ForAllValues:")):
            raise UnsupportedPolicy(f"condition operator {operator} is not evaluated locally")
        for key, expected in clauses.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Sequence[str]]
) -> bool:
    if "Principal" in statement or "NotPrincipal" in statement:
        raise UnsupportedPolicy("a Principal in an identity policy")
    if "Action" in statement:
        if not any(matches(p, action, case_sensitive=False) for p in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(matches(p, action, case_sensitive=False) for p in _as_list(statement["NotAction"])):
            return False
    else:
        raise UnsupportedPolicy("a statement without Action or NotAction")
    if "Resource" in statement:
        if not any(matches(p, resource) for p in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(matches(p, resource) for p in _as_list(statement["NotResource"])):
            return False
    else:
        raise UnsupportedPolicy("a statement without Resource or NotResource")
    return _conditions_hold(statement.get("Condition") or {}, context)


def statements(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Every statement of the documents (a document's Statement may be one object or a list)."""
    found: list[Mapping[str, Any]] = []
    for document in documents:
        found.extend(_as_list(document.get("Statement", [])))
    return found


def evaluate(
    documents: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, Sequence[str]] | None = None,
) -> Decision:
    """AWS's decision for one action on one resource under these identity policy documents."""
    allowed = False
    for statement in statements(documents):
        if not _statement_applies(statement, action, resource, context or {}):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return "deny"
        if effect == "Allow":
            allowed = True
        else:
            raise UnsupportedPolicy(f"Effect {effect!r}")
    return "allow" if allowed else "implicit-deny"


@dataclass(frozen=True)
class Denial:
    """One call refused: who, what, on what, and why (AWS's message names the first three too)."""

    role: str
    action: str
    resource: str
    reason: str
    account: str = ""

    def message(self) -> str:
        return f"{self.role} is not authorized to perform: {self.action} on resource: {self.resource} ({self.reason})"


def remove_action(
    documents: Sequence[dict[str, Any]], action: str, resource: str | None = None
) -> list[dict[str, Any]]:
    """Copies of `documents` without `action` (on `resource` only, when given): what a template missing that one
    grant would deploy. Statements left with no action or no resource are dropped."""
    result: list[dict[str, Any]] = []
    for document in documents:
        kept: list[dict[str, Any]] = []
        for statement in _as_list(document.get("Statement", [])):
            actions = [a for a in _as_list(statement.get("Action", [])) if a.lower() != action.lower()]
            if resource is None or "Action" not in statement:
                if actions or "Action" not in statement:
                    kept.append({**statement, "Action": actions} if "Action" in statement else dict(statement))
                continue
            resources = _as_list(statement.get("Resource", []))
            if actions == _as_list(statement["Action"]) or resource not in resources:
                kept.append(dict(statement))
                continue
            # Split: the other actions keep every resource, this action keeps the others.
            if actions:
                kept.append({**statement, "Action": actions})
            others = [r for r in resources if r != resource]
            if others:
                kept.append({**statement, "Action": [action], "Resource": others})
        result.append({**document, "Statement": kept})
    return result
