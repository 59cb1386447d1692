"""The worker's registry: each job kind paired with its operation, checked when loaded.

A command's operation is where its spec says (`CommandSpec.operation`, "module:attribute"), by default
`worker_function/operations/<kind>.py`'s `OPERATION`; the worker's own messages' are in
`worker_function/control/<kind>.py`, the dry run's in `operations/dry_run.py`. A job imports only its own
kind's module (a cold start pays for one operation, and checks that every command has one: `check_present`);
`check_all` loads them all (a SnapStart snapshot, the CDK app at synth, the unit tests), so an operation that
breaks a rule stops the worker's start and the synth, naming the command and the rule (`OperationLoadError`).

The rules (`OPERATION_RULES`, each a function of the pair returning what is wrong): the spec has an
operation satisfying `Operation`; a mutating command's has `preview`; `resume` exists exactly when a `state`
does; `stop` only with them; every side effect it declares is a `SideEffect` with its `reconcile`; and, read
from its source (`SOURCE_RULES`, `source_rules`): it changes its targets inside those effects only, and its
`permissions` declare exactly the AWS actions it calls.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.commands import COMMANDS, CONTROL_PIPELINES, CommandSpec, spec_for_kind
from shared.errors import OpsbotError
from worker_function.errors import StaleStateError
from worker_function.operations import StepState
from worker_function.operations.iam import Grant
from worker_function.operations.plugin_guard import GuardedOperation
from worker_function.operations.protocols import Operation, Previewable, Resumable, Stoppable

#: The attribute a built-in operation's module defines.
OPERATION_ATTRIBUTE = "OPERATION"
#: The dry run of a mutating command: an operation with no spec of its own.
DRY_RUN_KIND = "dry_run"


#: A rule: what the (spec, operation) pair breaks, or None.
Rule = Callable[[CommandSpec | None, Any], str | None]


class OperationLoadError(OpsbotError):
    """An operation missing or breaking a rule: the message names the command (or job kind) and the rule."""


@dataclass(frozen=True)
class Command:
    """A job kind's spec (None: a dry run or the worker's own message) and its operation, checked together."""

    kind: str
    spec: CommandSpec | None
    operation: Operation[Any]
    #: Where the operation was found ("module:attribute").
    location: str

    @property
    def label(self) -> str:
        return _label(self.kind, self.spec)


def _label(kind: str, spec: CommandSpec | None) -> str:
    if spec is None:
        return kind
    return f"{spec.name} ({kind}" + (f", plugin {spec.plugin!r})" if spec.plugin else ")")


def location_of(kind: str) -> str:
    """Where the operation of `kind` is: its spec's `operation`, or the built-in module of that kind."""
    spec = spec_for_kind(kind)
    if spec is not None and spec.operation is not None:
        return spec.operation
    package = "worker_function.control" if kind in CONTROL_PIPELINES else "worker_function.operations"
    return f"{package}.{kind}:{OPERATION_ATTRIBUTE}"


def all_kinds() -> list[str]:
    """Every job kind the worker runs: each command's, the dry run's, and the worker's own messages'."""
    return [*(spec.kind for spec in COMMANDS), DRY_RUN_KIND, *CONTROL_PIPELINES]


# -- the rules ---------------------------------------------------------------------------------------


def _has_run(spec: CommandSpec | None, op: Any) -> str | None:
    if not isinstance(op, Operation):
        return (
            "its operation needs run(args, job, ctx), effects (the classes of its side effects, or ()) and "
            "permissions (the AWS actions it calls, or ())"
        )
    if not all(isinstance(g, Grant) for g in op.permissions):
        return "its permissions must be Grant(actions, on=<resource kind>) declarations"
    return None


def _mutating_previews(spec: CommandSpec | None, op: Any) -> str | None:
    if spec is not None and spec.mutating and not isinstance(op, Previewable):
        return "a mutating command needs preview(args, job, ctx) -> Preview (what its --dry-run shows)"
    return None


def _resume_with_state(spec: CommandSpec | None, op: Any) -> str | None:
    resumes = callable(getattr(op, "resume", None))
    state = getattr(op, "state", None)
    if resumes and state is None:
        return "resume(args, job, ctx, state) needs the state model its steps leave (state)"
    if state is not None and not resumes:
        return "a state model (state) needs resume(args, job, ctx, state) to resume from it"
    if state is not None:
        try:
            TypeAdapter(state)
        except Exception as exc:
            return f"its state is not a model a step's state can be read as: {exc}"
    return None


def _stop_resumes(spec: CommandSpec | None, op: Any) -> str | None:
    if isinstance(op, Stoppable) and not isinstance(op, Resumable):
        return "stop(args, job, ctx, state) stops what a waiting step follows: it needs resume and state"
    return None


def _effects_reconcile(spec: CommandSpec | None, op: Any) -> str | None:
    for effect in getattr(op, "effects", ()):
        if not inspect.isclass(effect):
            return f"its effect {effect!r} is not a class"
        missing = [m for m in ("call", "reconcile", "assumed") if not callable(getattr(effect, m, None))]
        if missing:
            return f"its side effect {effect.__name__} has no {', '.join(missing)} (a SideEffect goes through the door)"
    return None


#: The rules every (spec, operation) pair is checked against, in order.
OPERATION_RULES: tuple[Rule, ...] = (
    _has_run,
    _mutating_previews,
    _resume_with_state,
    _stop_resumes,
    _effects_reconcile,
)


def _iam_covers_calls(spec: CommandSpec | None, op: Any) -> str | None:
    from worker_function.operations.source_rules import iam_problem  # reads source and SDK models: not on a cold start

    return iam_problem(op)


def _effects_through_door(spec: CommandSpec | None, op: Any) -> str | None:
    from worker_function.operations.source_rules import door_problem

    return door_problem(op)


#: The rules read from the operation's source (`source_rules`): at synth, in the unit tests and `check_all`.
SOURCE_RULES: tuple[Rule, ...] = (
    _effects_through_door,
    _iam_covers_calls,
)


def check_operation(
    kind: str,
    spec: CommandSpec | None,
    op: Any,
    rules: tuple[Callable[[CommandSpec | None, Any], str | None], ...] = (),
) -> Operation[Any]:
    """`op` if it keeps every rule (`OPERATION_RULES`, then `rules`); else `OperationLoadError` naming the
    command and the first rule broken."""
    for rule in (*OPERATION_RULES, *rules):
        problem = rule(spec, op)
        if problem is not None:
            raise OperationLoadError(f"{_label(kind, spec)}: {problem}")
    checked: Operation[Any] = op
    return checked


# -- loading -----------------------------------------------------------------------------------------


def load(kind: str) -> Command:
    """The operation of `kind`, imported and checked (once per container)."""
    return _load(kind)


@functools.cache
def _load(kind: str) -> Command:
    spec = spec_for_kind(kind)
    if spec is None and kind != DRY_RUN_KIND and kind not in CONTROL_PIPELINES:
        raise OperationLoadError(f"{kind}: no command has this kind")
    return load_operation(kind, spec, location_of(kind))


def load_operation(kind: str, spec: CommandSpec | None, location: str) -> Command:
    """The operation at `location` ("module:attribute"), imported and checked as `kind`'s (`spec`'s)."""
    module_name, _, attribute = location.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise OperationLoadError(f"{_label(kind, spec)}: {module_name} does not import: {exc}") from exc
        raise OperationLoadError(f"{_label(kind, spec)}: has no operation (no module {module_name})") from None
    except Exception as exc:
        raise OperationLoadError(f"{_label(kind, spec)}: {module_name} does not import: {exc}") from exc
    op = getattr(module, attribute or OPERATION_ATTRIBUTE, None)
    if op is None:
        raise OperationLoadError(f"{_label(kind, spec)}: has no operation ({location} is not defined)")
    return Command(kind=kind, spec=spec, operation=check_operation(kind, spec, op), location=location)


def check_present() -> None:
    """Every command has its operation's module (found, not imported: cheap enough for a cold start)."""
    for kind in all_kinds():
        module_name = location_of(kind).partition(":")[0]
        if importlib.util.find_spec(module_name) is None:
            raise OperationLoadError(f"{_label(kind, spec_for_kind(kind))}: has no operation (no module {module_name})")


#: The modules of the operations' packages that are not an operation: the kernel, and helpers (`_ecs`...).
KERNEL_MODULES = frozenset({"protocols", "registry", "iam", "source_rules", "plugin_guard"})


def orphans() -> list[str]:
    """The built-in operation modules no job kind names (a command whose spec says another kind, or none)."""
    kinds = set(all_kinds())
    found = []
    for package in ("worker_function.operations", "worker_function.control"):
        path = importlib.import_module(package).__path__
        found += [
            f"{package}.{m.name}"
            for m in pkgutil.iter_modules(path)
            if not m.name.startswith("_") and m.name not in KERNEL_MODULES and m.name not in kinds
        ]
    return found


def check_all(*, source: bool = True) -> tuple[Command, ...]:
    """Every operation loaded and checked (`OperationLoadError` for the first that breaks a rule), and no
    operation module without its command; `source`: with the rules read from its source too (`SOURCE_RULES`:
    effects through the door, IAM declared)."""
    stray = orphans()
    if stray:
        raise OperationLoadError(f"{stray[0]}: an operation module no command's kind names (no spec has its kind)")
    commands = tuple(load(kind) for kind in all_kinds())
    if source:
        for command in commands:
            check_operation(command.kind, command.spec, command.operation, SOURCE_RULES)
    return commands


def operation_for(kind: str) -> Operation[Any]:
    """The operation the worker runs for `kind`: a plugin's guarded (`plugin_guard`: a bug fails the job at once)."""
    return _runnable(kind)


@functools.cache
def _runnable(kind: str) -> Any:
    command = load(kind)
    if command.spec is None or not command.spec.plugin:
        return command.operation
    return GuardedOperation(command.operation, plugin=command.spec.plugin, command=command.spec.name)


# -- running -----------------------------------------------------------------------------------------


@functools.cache
def _state_adapter(kind: str) -> TypeAdapter[StepState]:
    operation = operation_for(kind)
    if not isinstance(operation, Resumable):
        raise StaleStateError(f"`{kind}` has no steps to resume")
    return TypeAdapter(operation.state)


def resume_state(kind: str, step: int, state: Mapping[str, Any]) -> StepState:
    """The state a job came back with, validated as its operation's `state`; a wrong or stale one is permanent."""
    try:
        return _state_adapter(kind).validate_python(dict(state))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'state'}: {e['msg']}" for e in exc.errors()[:3])
        what = f"step {step} of `{kind}` cannot resume from the state it came back with"
        raise StaleStateError(f"{what}: {problems}") from None
