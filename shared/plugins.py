"""Plugins: commands from other Python distributions, found through the entry point group `opsbot.commands`.

A plugin distribution names its spec module in its pyproject.toml:

    [project.entry-points."opsbot.commands"]
    cloudfront = "opsbot_cloudfront.spec"

The spec module holds what both functions load: its commands' `SPEC` (or `SPECS`), each naming its operation
(`CommandSpec.operation = "opsbot_cloudfront.operation:OPERATION"`, imported by the worker alone), and the kinds
of target it adds to the inventory (`TARGET_KINDS`, `TargetKind`s). The ack imports the spec module only, so it
imports nothing heavier than pydantic.

Where plugins are found: a Lambda asset carries `opsbot_plugins.json` (`INDEX_FILE`, written when the assets are
built: infra/aws/bundling.py), so a cold start scans no installed distribution. Outside an asset (the local
stack, the tests, the CLI) the entry points of the installed distributions are read once per process. A plugin
that cannot be loaded stops the start, naming it and the rule it breaks (`PluginError`): never a silent skip.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from shared.errors import OpsbotError

#: The entry point group plugins declare their spec module in.
ENTRY_POINT_GROUP = "opsbot.commands"
#: The plugins a Lambda asset carries, at its root (beside `shared/`), written when the asset is built.
INDEX_FILE = "opsbot_plugins.json"
#: A plugin's name (its entry point's): what errors, `/ops-help` and the index call it.
_PLUGIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class PluginError(OpsbotError):
    """A plugin that cannot be loaded: the message names the plugin (and its distribution) and the rule."""


@dataclass(frozen=True)
class Plugin:
    """One installed plugin: its entry point's name, its spec module and the distribution that declares it."""

    name: str
    module: str
    distribution: str = ""

    @property
    def label(self) -> str:
        return f"plugin {self.name!r}" + (f" ({self.distribution})" if self.distribution else "")

    def error(self, rule: str) -> PluginError:
        return PluginError(f"{self.label}: {rule}")


@dataclass(frozen=True)
class TargetKind:
    """A kind of target a plugin adds: a table of that name on an inventory target, validated by `model`
    (`[targets.web] cloudfront = { distribution_id = "E2QWRUHEXAMPLE" }`), and what a command's spec names in
    `accepts` to take targets that have it."""

    key: str
    model: type[BaseModel]
    #: How help and errors name it, plural ("CloudFront distributions").
    what: str
    #: The ARN of one such resource, from the table and the account it is in: what the worker's role is granted
    #: on (`arn(table, partition, account)`), None when the kind's actions take no resource.
    arn: Callable[[Any, str, str], str] | None = None


def _distribution_label(entry_point: Any) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return ""
    return f"{dist.metadata['Name']} {dist.version}"


def discover(entry_points: Iterable[Any] | None = None) -> tuple[Plugin, ...]:
    """The plugins the installed distributions declare (`ENTRY_POINT_GROUP`), sorted by name; `PluginError` for
    an entry point that is not one (a bad name, not a module) and for two plugins of one name."""
    if entry_points is None:
        from importlib.metadata import entry_points as installed_entry_points  # only outside a Lambda asset

        entry_points = installed_entry_points(group=ENTRY_POINT_GROUP)
    found: dict[str, Plugin] = {}
    for entry_point in entry_points:
        plugin = Plugin(entry_point.name, entry_point.value, _distribution_label(entry_point))
        if not _PLUGIN_NAME.match(plugin.name):
            raise plugin.error("a plugin's name (its entry point's) is up to 64 lower-case letters, digits, - or _")
        if not _MODULE.match(plugin.module):
            raise plugin.error(f"its entry point must name its spec module (`package.module`), not {plugin.module!r}")
        if plugin.name in found and found[plugin.name] != plugin:
            raise plugin.error(f"the name is also {found[plugin.name].label}'s: two plugins cannot share a name")
        found[plugin.name] = plugin
    return tuple(found[name] for name in sorted(found))


def index_path() -> Path:
    """Where a Lambda asset carries its plugins: `opsbot_plugins.json` beside the `shared` package."""
    return Path(__file__).resolve().parent.parent / INDEX_FILE


def index_json(plugins: Iterable[Plugin]) -> bytes:
    """The index a Lambda asset carries (`INDEX_FILE`): the plugins resolved when it was built."""
    listed = [{"name": p.name, "module": p.module, "distribution": p.distribution} for p in plugins]
    return (json.dumps({"version": 1, "plugins": listed}, indent=2, sort_keys=True) + "\n").encode()


def read_index(path: Path) -> tuple[Plugin, ...]:
    """The plugins of an asset's index; `PluginError` when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(Plugin(str(p["name"]), str(p["module"]), str(p.get("distribution", ""))) for p in data["plugins"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PluginError(f"the plugin index {path} cannot be read: {exc}") from None


@functools.cache
def installed() -> tuple[Plugin, ...]:
    """The plugins of this process: the asset's index when there is one (no scan), else the entry points."""
    path = index_path()
    return read_index(path) if path.is_file() else discover()


def spec_module(plugin: Plugin) -> ModuleType:
    """The plugin's spec module, imported; `PluginError` naming the plugin when it does not import."""
    try:
        return importlib.import_module(plugin.module)
    except Exception as exc:
        raise plugin.error(f"its spec module {plugin.module} does not import: {type(exc).__name__}: {exc}") from exc


def target_kinds_of(plugin: Plugin, module: ModuleType) -> tuple[TargetKind, ...]:
    """The target kinds a plugin's spec module declares (`TARGET_KINDS`), each checked to be one."""
    kinds = tuple(getattr(module, "TARGET_KINDS", ()))
    for kind in kinds:
        if not isinstance(kind, TargetKind):
            raise plugin.error(f"TARGET_KINDS holds {kind!r}, not a shared.plugins.TargetKind")
        if not (isinstance(kind.model, type) and issubclass(kind.model, BaseModel)):
            raise plugin.error(f"the target kind {kind.key!r} needs a pydantic model (model)")
        if not re.match(r"^[a-z][a-z0-9_]{0,63}$", kind.key):
            raise plugin.error(f"the target kind {kind.key!r} is not a key (a-z, 0-9, _)")
    return kinds


def target_kinds(plugins: Iterable[Plugin] | None = None, *, taken: Iterable[str] = ()) -> dict[str, TargetKind]:
    """The target kinds of the plugins (default: the installed ones), by key; `PluginError` for a key two plugins
    declare, or one that is already a table of an inventory target (`taken`)."""
    reserved = set(taken)
    found: dict[str, tuple[Plugin, TargetKind]] = {}
    for plugin in installed() if plugins is None else plugins:
        for kind in target_kinds_of(plugin, spec_module(plugin)):
            if kind.key in reserved:
                raise plugin.error(f"the target kind {kind.key!r} is already a table of opsbot's inventory targets")
            if kind.key in found:
                raise plugin.error(f"the target kind {kind.key!r} is also {found[kind.key][0].label}'s")
            found[kind.key] = (plugin, kind)
    return {key: kind for key, (_, kind) in found.items()}


__all__ = [
    "ENTRY_POINT_GROUP",
    "INDEX_FILE",
    "Plugin",
    "PluginError",
    "TargetKind",
    "discover",
    "index_json",
    "index_path",
    "installed",
    "read_index",
    "spec_module",
    "target_kinds",
    "target_kinds_of",
]
