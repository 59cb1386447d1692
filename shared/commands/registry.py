"""The registry of commands: every spec, built-in or a plugin's, checked when loaded, and the job args union
made from them.

The built-in commands are the modules of `shared.commands.builtin`, found by listing the package (nothing to
register elsewhere): each defines `SPEC` (or `SPECS`, a family). A plugin's spec module is named by its
distribution's entry point (`shared.plugins`), and its specs join the built-in ones here (`with_plugins`), held
to the same rules plus their own (an operation named, a target kind some plugin declares, no name or kind another
command has), a refusal naming the plugin. Loading refuses, naming the command and the rule, a spec that is not
one, a name or kind taken twice, and fields the spec names that its args model does not have.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Literal, Union, get_args

from pydantic import Field

from shared.commands import builtin
from shared.commands.control import CONTROL_PIPELINES, ControlArgs
from shared.commands.spec import DRY_RUN_PIPELINE, Accepts, Args, CommandSpec, Pipeline
from shared.errors import OpsbotError
from shared.plugins import Plugin, installed, spec_module, target_kinds_of

#: How a slash command may be named (Slack: lower case, at most 32 characters, starting with a slash).
_COMMAND_NAME = re.compile(r"^/[a-z0-9][a-z0-9_-]{0,30}$")
#: How a job kind may be named: the worker's modules and the envelope's discriminator use it.
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Job kinds that are not commands: the dry run of one, and the worker's own messages.
RESERVED_KINDS = frozenset({"dry_run", *CONTROL_PIPELINES})


class CommandLoadError(OpsbotError):
    """A command that cannot be loaded: the message names it (its module or name) and the rule it breaks."""


def module_specs(module: ModuleType) -> tuple[CommandSpec, ...]:
    """The specs a command module defines (`SPECS`, or `SPEC`), each checked to be a `CommandSpec`."""
    found = getattr(module, "SPECS", None)
    if found is None:
        one = getattr(module, "SPEC", None)
        found = () if one is None else (one,)
    specs = tuple(found)
    if not specs:
        raise CommandLoadError(f"{module.__name__}: defines no SPEC (a CommandSpec) nor SPECS")
    for spec in specs:
        if not isinstance(spec, CommandSpec):
            raise CommandLoadError(f"{module.__name__}: {spec!r} is not a CommandSpec")
    return specs


def builtin_spec_modules() -> list[str]:
    """The built-in commands' modules: every module of `shared.commands.builtin`, by name."""
    return sorted(f"{builtin.__name__}.{m.name}" for m in pkgutil.iter_modules(builtin.__path__))


def with_plugins(builtins: Iterable[CommandSpec], plugins: Iterable[Plugin]) -> tuple[CommandSpec, ...]:
    """The built-in specs and every plugin's, each plugin's checked by the spec rules and the plugin rules;
    `PluginError` naming the plugin and the rule (never a plugin skipped). Sorted as `/ops-help` lists them."""
    loaded = [(plugin, spec_module(plugin)) for plugin in plugins]
    kinds = {kind.key for plugin, module in loaded for kind in target_kinds_of(plugin, module)}
    owners: dict[str, str] = {}
    for spec in builtins:
        owners[spec.name] = owners[f"kind:{spec.kind}"] = "opsbot's own"
    specs = list(builtins)
    for plugin, module in loaded:
        for spec in _plugin_specs(plugin, module, kinds):
            for key, what in ((spec.name, f"the name {spec.name}"), (f"kind:{spec.kind}", f"the kind {spec.kind!r}")):
                if key in owners:
                    raise plugin.error(
                        f"{spec.name}: {what} is already {owners[key]} (a command's name and kind are unique)"
                    )
                owners[key] = f"{plugin.label}'s"
            specs.append(spec)
    return tuple(sorted(specs, key=lambda s: (s.rank, s.name)))


def _plugin_specs(plugin: Plugin, module: ModuleType, kinds: set[str]) -> list[CommandSpec]:
    try:
        specs = module_specs(module)
        for spec in specs:
            check_spec(spec)
    except CommandLoadError as exc:
        raise plugin.error(str(exc)) from None
    for spec in specs:
        if not spec.operation or ":" not in spec.operation:
            raise plugin.error(
                f'{spec.name}: a plugin\'s spec names its operation (operation="package.module:OPERATION")'
            )
        if spec.accepts is not None and spec.accepts not in get_args(Accepts) and spec.accepts not in kinds:
            raise plugin.error(f"{spec.name}: it accepts {spec.accepts!r}, a target kind no installed plugin declares")
    return [dataclasses.replace(spec, plugin=plugin.name) for spec in specs]


def load_specs(modules: Iterable[str]) -> tuple[CommandSpec, ...]:
    """Import each module and collect its specs; a module that does not import is named with its error."""
    specs: list[CommandSpec] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise CommandLoadError(f"{name}: does not import: {type(exc).__name__}: {exc}") from exc
        specs.extend(module_specs(module))
    return tuple(specs)


def _name_rule(spec: CommandSpec) -> str | None:
    if not _COMMAND_NAME.match(spec.name):
        return "a command's name is a slash and up to 31 lower-case letters, digits, - or _"
    return None


def _kind_rule(spec: CommandSpec) -> str | None:
    if not (isinstance(spec.args_model, type) and issubclass(spec.args_model, Args)):
        return "its args_model must subclass shared.commands.spec.Args"
    kind_field = spec.args_model.model_fields.get("kind")
    if kind_field is None or not isinstance(kind_field.default, str) or not _KIND.match(kind_field.default):
        return "its args model needs `kind: Literal[...]` defaulting to its job kind (a-z, 0-9, _)"
    if spec.kind in RESERVED_KINDS:
        return f"its kind {spec.kind!r} is reserved for the worker's own jobs"
    return None


def _fields_rule(spec: CommandSpec) -> str | None:
    fields = set(spec.args_model.model_fields)
    for role in ("target", "subject", "reads_about"):
        named = getattr(spec, role)
        # A target may also be a property of the model (what `/ops-run` leases: its target, else its runbook).
        derived = role == "target" and isinstance(getattr(spec.args_model, str(named), None), property)
        if named is not None and named not in fields and not derived:
            return f"its {role} {named!r} is not a field of {spec.args_model.__name__}"
    missing = [p for p in spec.positional if p not in fields]
    if missing:
        return f"its positional words {missing} are not fields of {spec.args_model.__name__}"
    if not 0 <= spec.optional <= len(spec.positional):
        return "optional must count trailing positional words"
    return None


def _subject_rule(spec: CommandSpec) -> str | None:
    if spec.subject is not None and spec.accepts is None:
        return "a command with a subject says what the subject must be (accepts)"
    if spec.max_age_s <= 0:
        return "max_age_s must be positive"
    return None


#: A spec's own rules, in order: each returns what is wrong, or None.
SPEC_RULES = (_name_rule, _kind_rule, _fields_rule, _subject_rule)


def check_spec(spec: CommandSpec) -> None:
    """One spec's own rules; `CommandLoadError` naming the command and the first rule it breaks."""
    for rule in SPEC_RULES:
        problem = rule(spec)
        if problem is not None:
            raise CommandLoadError(f"{spec.name}: {problem}")


def check_registry(specs: Iterable[CommandSpec]) -> tuple[CommandSpec, ...]:
    """Every spec checked, no name or kind taken twice; sorted as `/ops-help` lists them."""
    by_name: dict[str, CommandSpec] = {}
    by_kind: dict[str, CommandSpec] = {}
    for spec in specs:
        check_spec(spec)
        if spec.name in by_name:
            raise CommandLoadError(
                f"{spec.name}: the name is taken twice (kinds {by_name[spec.name].kind}, {spec.kind})"
            )
        if spec.kind in by_kind:
            raise CommandLoadError(f"{spec.name}: its kind {spec.kind!r} is also {by_kind[spec.kind].name}'s")
        by_name[spec.name], by_kind[spec.kind] = spec, spec
    return tuple(sorted(by_name.values(), key=lambda s: (s.rank, s.name)))


#: Every command, built-in and plugin, in `/ops-help`'s order.
COMMANDS: tuple[CommandSpec, ...] = with_plugins(check_registry(load_specs(builtin_spec_modules())), installed())
_BY_NAME = {spec.name: spec for spec in COMMANDS}
_BY_KIND = {spec.kind: spec for spec in COMMANDS}


def find_command(name: str) -> CommandSpec | None:
    return _BY_NAME.get(name.strip().lower())


def spec_for_kind(kind: str) -> CommandSpec | None:
    return _BY_KIND.get(kind)


def pipeline_for(kind: str) -> Pipeline:
    """The pipeline of a job kind: its command spec's, a dry run's (`DRY_RUN_PIPELINE`), or the control message's."""
    spec = _BY_KIND.get(kind)
    if spec is not None:
        return spec.pipeline
    return DRY_RUN_PIPELINE if kind == "dry_run" else CONTROL_PIPELINES[kind]


if TYPE_CHECKING:  # the union is made from the registry at import: to the type checker, any command's args
    CommandArgs = Args
else:
    CommandArgs = Union[tuple(spec.args_model for spec in COMMANDS)]  # noqa: UP007 (a union made at run time)


class DryRunArgs(Args):
    """A mutating command with `--dry-run`: `of` is the command's own args. The worker shows what it would do
    (`worker_function.operations.dry_run`) and changes nothing; its pipeline is `DRY_RUN_PIPELINE`."""

    kind: Literal["dry_run"] = "dry_run"
    of: Annotated[CommandArgs, Field(discriminator="kind")]


if TYPE_CHECKING:
    JobArgs = Args
else:
    JobArgs = Annotated[Union[CommandArgs, ControlArgs, DryRunArgs], Field(discriminator="kind")]  # noqa: UP007
