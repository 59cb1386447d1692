"""The rules an operation's source is checked against (at synth and in the unit tests, not on a cold start).

What an operation calls is read from its code: starting from its class's `run`, `resume`, `preview` and
`stop` and its declared effects, every function and class of its own package it names is followed (not
into shared code: the stores' DynamoDB calls are granted apart), and every method call named like an
operation of an AWS service client it touches (`client("ecs")`, `once("ecs")`, `aws.ecs`, a declared
action's service) is an AWS call, `get_paginator("list_...")` included. Then:

- the IAM it declares (`permissions`) covers every AWS action it calls, and declares none it never calls;
- a call that changes something at a target (an action not named Describe/Get/List/...; a `Grant` says
  `changes_nothing` for one that only sounds like a write) is made inside one of its declared `effects`,
  which go through the intent door (`ctx.effect`): except from `stop` (stopping twice stops once);
- `preview` makes no such call, and the single-attempt client (`aws.once`) is used inside effects only.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore import xform_name

from worker_function.operations.iam import Grant

#: How a read-only AWS action is named; anything else changes something.
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Search", "Lookup", "Filter", "Query", "Select", "Scan")
#: The entry points of an operation, as the executor calls them.
ENTRY_METHODS = ("run", "resume", "preview", "stop")


@dataclass(frozen=True)
class AwsCall:
    method: str
    module: str
    line: int
    #: The client was the single-attempt one (`aws.once("svc")`).
    once: bool = False
    #: A service named where the client was made (`client("ecs")`) or taken (`aws.ecs`), when seen.
    service: str | None = None

    @property
    def where(self) -> str:
        return f"{self.module.rsplit('.', 1)[-1]}.py:{self.line}"


@dataclass
class Unit:
    """A top-level function or class of a module (a class's methods apart for the operation's own class)."""

    module: str
    name: str
    calls: list[AwsCall] = field(default_factory=list)
    refs: set[tuple[str, str]] = field(default_factory=set)
    services: set[str] = field(default_factory=set)


#: IAM action prefixes whose botocore service goes by another name.
_BOTOCORE = {"states": "stepfunctions"}


@functools.cache
def _service_ops(service: str) -> dict[str, str]:
    """snake_case method -> IAM action of a botocore service ({} for a service botocore does not know)."""
    session = botocore.session.get_session()
    try:
        model = session.get_service_model(service)
    except Exception:
        return {}
    prefix = model.signing_name or model.endpoint_prefix
    return {xform_name(op): f"{prefix}:{op}" for op in model.operation_names}


def _client_service(node: ast.expr) -> tuple[str | None, bool]:
    """The service of a client expression `x.client("svc")` / `x.once("svc")` / `x.ecs`, and whether once."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("client", "once"):
        arg = node.args[0] if node.args else None
        service = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
        return service, node.func.attr == "once"
    if isinstance(node, ast.Attribute) and node.attr == "ecs":
        return "ecs", False
    return None, False


class _Collector(ast.NodeVisitor):
    def __init__(self, unit: Unit, names: dict[str, tuple[str, str]], modules: dict[str, str]) -> None:
        self.unit, self.names, self.modules = unit, names, modules

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        made, _ = _client_service(node)
        if made:
            self.unit.services.add(made)
        if isinstance(func, ast.Attribute):
            service, once = _client_service(func.value)
            method = func.attr
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            if service:
                self.unit.services.add(service)
            self.unit.calls.append(AwsCall(method, self.unit.module, node.lineno, once, service))
            if isinstance(func.value, ast.Name) and func.value.id == "self":
                self.unit.refs.add((self.unit.module, f"{self.unit.name.split('.')[0]}.{method}"))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.names:
            self.unit.refs.add(self.names[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.modules:
            self.unit.refs.add((self.modules[node.value.id], node.attr))
        self.generic_visit(node)


def _imports(tree: ast.Module) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The module's imported names (local name -> (module, name)) and modules (local name -> module)."""
    names: dict[str, tuple[str, str]] = {}
    modules: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
                modules.setdefault(alias.asname or alias.name, f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
    return names, modules


@functools.cache
def units_of(module: str) -> dict[str, Unit]:
    """The module's top-level functions and classes (and each class's methods as `Class.method`)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return {}
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    names, modules = _imports(tree)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    for node in defs:
        names[node.name] = (module, node.name)
    units: dict[str, Unit] = {}
    for node in defs:
        unit = units[node.name] = Unit(module, node.name)
        _Collector(unit, names, modules).visit(node)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    method = units[f"{node.name}.{item.name}"] = Unit(module, f"{node.name}.{item.name}")
                    _Collector(method, names, modules).visit(item)
    return units


def _reach(roots: list[tuple[str, str]], scope: str) -> Iterator[Unit]:
    """Every unit reached from `roots` within the modules under `scope` (each once)."""
    seen: set[tuple[str, str]] = set()
    todo = list(roots)
    while todo:
        module, name = todo.pop()
        if (module, name) in seen or not module.startswith(scope):
            continue
        seen.add((module, name))
        unit = units_of(module).get(name)
        if unit is None:
            continue
        yield unit
        todo.extend(unit.refs)


@dataclass(frozen=True)
class Found:
    """An AWS call an operation makes, as an IAM action, and where (which entry point, inside which effect)."""

    action: str
    call: AwsCall
    entry: str
    #: The effect class it is made in, if any.
    effect: str | None


def aws_calls(op: Any) -> list[Found]:
    """The AWS calls reachable from the operation's entry points, resolved to IAM actions."""
    cls = type(op)
    scope = cls.__module__.rsplit(".", 1)[0] + "."
    effects = {(e.__module__, e.__qualname__) for e in getattr(op, "effects", ())}
    declared = {
        _BOTOCORE.get(p, p) for g in getattr(op, "permissions", ()) if g.actions for p in [g.actions[0].split(":")[0]]
    }
    found: list[Found] = []
    for entry in ENTRY_METHODS:
        if not callable(getattr(op, entry, None)):
            continue
        owner = next(k for k in cls.__mro__ if entry in vars(k))  # the class that defines it (maybe a base)
        for unit in _reach([(owner.__module__, f"{owner.__qualname__}.{entry}")], scope):
            in_effect = (unit.module, unit.name.split(".")[0]) in effects
            services = unit.services | declared
            for call in unit.calls:
                action = _action_of(call, services)
                if action is not None:
                    found.append(Found(action, call, entry, unit.name.split(".")[0] if in_effect else None))
    return found


def _action_of(call: AwsCall, services: set[str]) -> str | None:
    candidates = [call.service] if call.service else sorted(services)
    for service in candidates:
        action = _service_ops(service).get(call.method)
        if action is not None:
            return action
    return None


def writes(action: str) -> bool:
    return not action.split(":", 1)[1].startswith(READ_PREFIXES)


def iam_problem(op: Any) -> str | None:
    """What the declared IAM misses or has too much of, naming the action and where it is called."""
    grants: tuple[Grant, ...] = tuple(getattr(op, "permissions", ()))
    declared = {a for g in grants for a in g.actions}
    found = aws_calls(op)
    called = {f.action for f in found}
    missing = sorted({f.action: f for f in found if f.action not in declared}.values(), key=lambda f: f.action)
    if missing:
        listed = ", ".join(f"{f.action} ({f.call.where})" for f in missing)
        return f"it calls {listed} but its permissions do not declare it"
    unused = sorted(declared - called)
    if unused:
        return f"its permissions declare {', '.join(unused)}, which it never calls (least privilege)"
    return None


def door_problem(op: Any) -> str | None:
    """A change at a target made outside the declared effects (or by `preview`), or `aws.once` outside them."""
    harmless = {a for g in getattr(op, "permissions", ()) if g.changes_nothing for a in g.actions}
    for f in aws_calls(op):
        changes = writes(f.action) and f.action not in harmless
        if f.entry == "preview" and changes:
            return f"preview calls {f.action} ({f.call.where}): a dry run only reads"
        if f.effect is None and f.call.once:
            return f"{f.call.where} uses the single-attempt client outside a declared effect"
        if changes and f.effect is None and f.entry != "stop":
            return (
                f"{f.action} ({f.call.where}) changes its target outside a declared effect: make it a SideEffect "
                "with its reconcile, made through ctx.effect, and list it in effects"
            )
    return None
