"""The registry of commands: every spec, built-in or a plugin's, checked when loaded, and the job args made
from them.

The built-in commands are the modules of `shared.commands.builtin`, found by listing the package (nothing to
register elsewhere): each defines `SPEC` (or `SPECS`, a family). A plugin's spec module is named by its
distribution's entry point (`shared.plugins`), and its specs join the built-in ones here (`with_plugins`), held
to the same rules plus their own (an operation named, a target kind some plugin declares, no name or kind another
command has), a refusal naming the plugin. Loading refuses, naming the command and the rule, a spec that is not
one, a name or kind taken twice, and fields the spec names that its args model does not have.

What a cold start pays: a Lambda asset carries `opsbot_commands.json` (`INDEX_FILE`, written when the asset is
built, after every command was loaded and checked: infra/aws/bundling.py), each command's name, kind and module.
With it nothing is listed and a command's module is imported when a request first names it (`find_command`,
`spec_for_kind`), checked then by its spec's rules; `all_commands()` (`/ops-help`, an unknown name) loads the
rest, and `prime()` loads them all before a SnapStart snapshot. Without the index (the local stack, the tests,
the CLI) every command is loaded and checked when this module is imported. A job's args are validated by the
model of the kind they name (`JobArgs`), not by a union of every model built up front.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, get_args

from pydantic import PlainValidator

from shared.commands.control import CONTROL_MODELS, CONTROL_PIPELINES
from shared.commands.spec import DRY_RUN_PIPELINE, Accepts, Args, CommandSpec, Pipeline
from shared.errors import OpsbotError

if TYPE_CHECKING:
    from shared.plugins import Plugin

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
    import pkgutil  # listing the package: only where no index says what is in it

    from shared.commands import builtin

    return sorted(f"{builtin.__name__}.{m.name}" for m in pkgutil.iter_modules(builtin.__path__))


def with_plugins(builtins: Iterable[CommandSpec], plugins: Iterable[Plugin]) -> tuple[CommandSpec, ...]:
    """The built-in specs and every plugin's, each plugin's checked by the spec rules and the plugin rules;
    `PluginError` naming the plugin and the rule (never a plugin skipped). Sorted as `/ops-help` lists them."""
    from shared.plugins import spec_module, target_kinds_of

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
        specs.extend(module_specs(_import(name)))
    return tuple(specs)


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise CommandLoadError(f"{name}: does not import: {type(exc).__name__}: {exc}") from exc


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


# -- the index: what a cold start reads instead of listing and importing every command ----------------------

#: The commands a Lambda asset carries, at its root (beside `shared/`), written when the asset is built.
INDEX_FILE = "opsbot_commands.json"


class Entry(NamedTuple):
    """One command as the index lists it: enough to find its module without importing any other."""

    name: str
    kind: str
    #: The module that defines its spec (a built-in's `shared.commands.builtin.<kind>`, a plugin's spec module).
    module: str
    #: The plugin it comes from (its entry point's name); "" for opsbot's own.
    plugin: str = ""


def index_path() -> Path:
    """Where a Lambda asset carries its commands: `opsbot_commands.json` beside the `shared` package."""
    return Path(__file__).resolve().parent.parent.parent / INDEX_FILE


def index_json() -> bytes:
    """The index a Lambda asset carries (`INDEX_FILE`): every command of this process (each loaded and checked
    first), in `/ops-help`'s order, with the module that defines it."""
    all_commands()
    listed = [e._asdict() for e in _REGISTRY.entries]
    return (json.dumps({"version": 1, "commands": listed}, indent=2) + "\n").encode()


def read_index(path: Path) -> tuple[Entry, ...]:
    """The commands of an asset's index; `CommandLoadError` when it is not one (or lists a name or kind twice)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = tuple(
            Entry(str(c["name"]), str(c["kind"]), str(c["module"]), str(c.get("plugin") or ""))
            for c in data["commands"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandLoadError(f"the command index {path} cannot be read: {exc}") from None
    if len({e.name for e in entries}) != len(entries) or len({e.kind for e in entries}) != len(entries):
        raise CommandLoadError(f"the command index {path} lists a name or a kind twice")
    return entries


class _Registry:
    """The commands of this process: the index's entries, and the specs loaded so far (all, without an index)."""

    def __init__(self, entries: tuple[Entry, ...], loaded: Iterable[CommandSpec] = ()) -> None:
        self.entries = entries
        self.by_name = {e.name: e for e in entries}
        self.by_kind = {e.kind: e for e in entries}
        self.specs: dict[str, CommandSpec] = {s.name: s for s in loaded}

    @classmethod
    def load(cls) -> _Registry:
        path = index_path()
        if path.is_file():
            return cls(read_index(path))
        from shared.plugins import installed, spec_module  # where no index lists the commands

        plugins, builtins = installed(), builtin_spec_modules()
        specs = with_plugins(check_registry(load_specs(builtins)), plugins)
        modules = {spec.name: name for name in builtins for spec in module_specs(_import(name))}
        modules.update({spec.name: p.module for p in plugins for spec in module_specs(spec_module(p))})
        return cls(tuple(Entry(s.name, s.kind, modules[s.name], s.plugin) for s in specs), specs)

    def spec(self, entry: Entry) -> CommandSpec:
        spec = self.specs.get(entry.name)
        if spec is None:
            spec = self.specs[entry.name] = self._load(entry)
        return spec

    def _load(self, entry: Entry) -> CommandSpec:
        """A command named by the index, imported and checked by the spec rules (the rest were checked when the
        index was written); `CommandLoadError` when its module no longer defines what the index says."""
        if not entry.plugin:
            module = _import(entry.module)
        else:
            from shared.plugins import installed, spec_module  # a plugin's command, first named

            plugin = next((p for p in installed() if p.name == entry.plugin), None)
            if plugin is None:
                raise CommandLoadError(f"{entry.name}: its plugin {entry.plugin!r} is not in the plugin index")
            try:
                module = spec_module(plugin)
            except OpsbotError as exc:
                raise CommandLoadError(str(exc)) from None
        found = next((s for s in module_specs(module) if s.name == entry.name), None)
        if found is None or found.kind != entry.kind:
            raise CommandLoadError(
                f"{entry.name}: {entry.module} does not define it with the kind {entry.kind!r} (a stale {INDEX_FILE})"
            )
        check_spec(found)
        return found if not entry.plugin else dataclasses.replace(found, plugin=entry.plugin)


_REGISTRY = _Registry.load()


def command_names() -> tuple[str, ...]:
    """Every command's name, in `/ops-help`'s order, without loading any command."""
    return tuple(e.name for e in _REGISTRY.entries)


def all_commands() -> tuple[CommandSpec, ...]:
    """Every command, built-in and plugin, in `/ops-help`'s order (each loaded if it was not yet)."""
    return tuple(_REGISTRY.spec(e) for e in _REGISTRY.entries)


def prime() -> None:
    """Load every command and build every job args model now (before a SnapStart snapshot: a restore then imports
    and builds none of them)."""
    models: list[type[Args]] = [spec.args_model for spec in all_commands()]
    models += [DryRunArgs, *CONTROL_MODELS.values()]
    for model in models:
        model.model_rebuild()


def find_command(name: str) -> CommandSpec | None:
    entry = _REGISTRY.by_name.get(name.strip().lower())
    return None if entry is None else _REGISTRY.spec(entry)


def spec_for_kind(kind: str) -> CommandSpec | None:
    entry = _REGISTRY.by_kind.get(kind)
    return None if entry is None else _REGISTRY.spec(entry)


def pipeline_for(kind: str) -> Pipeline:
    """The pipeline of a job kind: its command spec's, a dry run's (`DRY_RUN_PIPELINE`), or the control message's."""
    spec = spec_for_kind(kind)
    if spec is not None:
        return spec.pipeline
    return DRY_RUN_PIPELINE if kind == "dry_run" else CONTROL_PIPELINES[kind]


def job_kinds() -> tuple[str, ...]:
    """Every kind a job's args may have: the commands', a dry run's and the worker's own messages'."""
    return (*(e.kind for e in _REGISTRY.entries), "dry_run", *CONTROL_MODELS)


if TYPE_CHECKING:
    #: Every command, built-in and plugin, in `/ops-help`'s order: `all_commands()`, when first asked for.
    COMMANDS: tuple[CommandSpec, ...]


def __getattr__(name: str) -> Any:
    if name == "COMMANDS":  # every command: loaded when first asked for
        return all_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- a job's args: validated by the model of the kind they name -----------------------------------------------


def _args_of(value: Any, *, commands_only: bool) -> Args:
    """`value` (a dict, or an args model) as the args model of the kind it names: that command's, a dry run's or a
    control message's; only the first with `commands_only`. Typed `Any` to pydantic, so that a job's args are
    serialized as the model they are (what `SerializeAsAny` does, without loading its module on a cold start)."""
    kind = value.kind if isinstance(value, Args) else value.get("kind") if isinstance(value, dict) else None
    model: type[Args] | None = None
    if isinstance(kind, str):
        spec = spec_for_kind(kind)
        if spec is not None:
            model = spec.args_model
        elif not commands_only:
            model = DryRunArgs if kind == "dry_run" else CONTROL_MODELS.get(kind)
    if model is None:
        known = [e.kind for e in _REGISTRY.entries] if commands_only else list(job_kinds())
        raise ValueError(f"the kind {kind!r} is not one of {', '.join(known)}")
    return value if type(value) is model else model.model_validate(value)


if TYPE_CHECKING:  # any command's args, to the type checker
    CommandArgs = Args
else:
    CommandArgs = Annotated[Any, PlainValidator(functools.partial(_args_of, commands_only=True))]


class DryRunArgs(Args):
    """A mutating command with `--dry-run`: `of` is the command's own args. The worker shows what it would do
    (`worker_function.operations.dry_run`) and changes nothing; its pipeline is `DRY_RUN_PIPELINE`."""

    kind: Literal["dry_run"] = "dry_run"
    of: CommandArgs


if TYPE_CHECKING:
    JobArgs = Args
else:
    JobArgs = Annotated[Any, PlainValidator(functools.partial(_args_of, commands_only=False))]
