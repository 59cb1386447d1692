"""Lambda assets built with pip for the Lambda platform: no Docker anywhere.

Each function's asset is its own package plus `shared`, and the third-party distributions its
code imports: an import scan of those packages picks the requirements from pyproject.toml, so the
ack asset carries only what the ack imports (its cold start is on Slack's 3-second path).

pip installs manylinux wheels for arm64 / CPython 3.13 into the asset directory
(`--platform ... --implementation cp --python-version 3.13 --only-binary=:all: --target DIR`), so
the result runs on Lambda's Amazon Linux 2023 whatever the build machine is. boto3/botocore come
with the Lambda Python runtime (docs.aws.amazon.com/lambda/latest/dg/lambda-python.html,
"Runtime-included SDK versions") and so does `snapshot_restore_py` (SnapStart runtime hooks).

The asset ships bytecode compiled by a CPython 3.13 found on the deploying machine (`python3.13` on the PATH,
a pyenv 3.13, or OPSBOT_BYTECODE_PYTHON), as unchecked-hash .pyc: Lambda's /var/task is read-only, so
without them every cold start compiles every module it imports (bench/ "opsbot ack, no .pyc": about twice
the cold path). Without a 3.13 the asset is built without bytecode and synth says so.

Plugins (`shared.plugins`) are resolved here, when the assets are built: each asset carries the installed
plugins' packages and `opsbot_plugins.json`, the index the functions read instead of scanning the installed
distributions' entry points on a cold start. A plugin that does not load fails the build, naming it. So are the
commands: every one is loaded and checked here, and `opsbot_commands.json` lists each with its module, so a cold
start lists no package and imports only the commands its requests name (`shared.commands.registry`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from shared.commands.registry import INDEX_FILE as COMMAND_INDEX_FILE
from shared.commands.registry import index_json as command_index_json
from shared.plugins import INDEX_FILE, Plugin, discover, index_json, spec_module

#: The repository root: where pyproject.toml and the function packages live.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Lambda's Python runtime and architecture for both functions.
PYTHON_VERSION = "3.13"
#: manylinux2014 (glibc 2.17) and manylinux_2_28 wheels both run on Amazon Linux 2023 (glibc 2.34).
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")

#: Imports the Lambda Python runtime provides: never bundled.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "snapshot_restore_py"})

#: Our own top-level packages: copied as source, never installed from an index.
FIRST_PARTY = frozenset({"ack_function", "worker_function", "shared", "infra", "tests"})

#: Bump when the bundling recipe changes, so assets built the old way get a new hash.
_RECIPE_VERSION = "2"

#: Where Lambda unpacks a function's code (its LAMBDA_TASK_ROOT): a file at the root of the asset is
#: at `/var/task/<name>` when the function runs.
LAMBDA_TASK_ROOT = "/var/task"

#: A data file at the root of an asset: a plain file name, no directory, no dot file.
_ASSET_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BundlingError(RuntimeError):
    """The asset cannot be built (an undeclared import, or pip failed)."""


def _canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[str]:
    """Top-level module names imported anywhere in the tree, except under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            stack.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        stack.extend(ast.iter_child_nodes(node))


def _python_files(package_dir: Path) -> Iterator[Path]:
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def third_party_imports(package_dirs: Iterable[Path]) -> set[str]:
    """Top-level names of everything the packages import that is neither stdlib nor ours."""
    found: set[str] = set()
    for package_dir in package_dirs:
        for path in _python_files(package_dir):
            found.update(_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return {
        name
        for name in found
        if name not in sys.stdlib_module_names and name not in FIRST_PARTY and name != "__future__"
    }


def declared_dependencies(pyproject: Path) -> dict[str, str]:
    """The project's runtime dependencies from pyproject.toml: canonical name -> requirement line."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    deps: dict[str, str] = {}
    for line in project.get("dependencies", []):
        name = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if name is None:
            raise BundlingError(f"cannot read the dependency {line!r} in {pyproject}")
        deps[_canonical(name.group(1))] = line.strip()
    return deps


def _pinned(requirement: str, distribution: str) -> str:
    """Pin to the version installed here (what the tests ran against), keeping any extras."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return requirement
    extras = re.match(r"^\s*[A-Za-z0-9._-]+\s*(\[[^\]]*\])?", requirement)
    extra = (extras.group(1) or "") if extras else ""
    return f"{distribution}{extra}=={version}"


def requirements_for(
    packages: Sequence[str],
    *,
    root: Path = PROJECT_ROOT,
    import_to_distributions: dict[str, list[str]] | None = None,
    pin: bool = True,
    extra_dirs: Sequence[Path] = (),
    extra_declared: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The pip requirements of the given packages (and of the plugins' package directories `extra_dirs`): one per
    third-party distribution they import.

    Every such import must be a declared dependency in pyproject.toml, or of a plugin's distribution
    (`extra_declared`), or come with the Lambda runtime; anything else is a `BundlingError`, found at synth time
    instead of as an ImportError on the first cold start.
    """
    declared = {**(extra_declared or {}), **declared_dependencies(root / "pyproject.toml")}
    mapping = (
        importlib.metadata.packages_distributions() if import_to_distributions is None else import_to_distributions
    )
    requirements: dict[str, str] = {}
    scanned = [root / package for package in packages] + list(extra_dirs)
    ours = {path.name for path in extra_dirs}
    for name in sorted(third_party_imports(scanned) - ours):
        if name in RUNTIME_PROVIDED:
            continue
        candidates = [_canonical(d) for d in mapping.get(name, [])] or [_canonical(name)]
        distribution = next((d for d in candidates if d in declared), None)
        if distribution is None:
            raise BundlingError(
                f"{'/'.join(packages)} (with the plugins) import {name!r}, which is not a dependency declared in "
                "pyproject.toml (nor by a plugin's distribution)"
            )
        requirement = declared[distribution]
        requirements[distribution] = _pinned(requirement, distribution) if pin else requirement
    return tuple(requirements[d] for d in sorted(requirements))


#: Pure-Python distributions published only as source (python-jenkins needs multi-key-dict): built into
#: a `py3-none-any` wheel on this machine first, which pip then accepts for any platform.
SOURCE_ONLY_PURE_PYTHON = ("multi-key-dict",)


def pure_wheel_command(wheelhouse: str, distribution: str, *, python: str = sys.executable) -> list[str]:
    """`pip wheel` of a pure-Python source distribution into `wheelhouse`."""
    pip = [python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps"]
    return [*pip, "-w", wheelhouse, distribution]


def pip_command(
    target: str, requirements: Sequence[str], *, python: str = sys.executable, find_links: str | None = None
) -> list[str]:
    """`pip install` of binary wheels for Lambda arm64 / CPython 3.13 into `target`."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",  # .pyc from the build machine's Python would not match 3.13
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        *(["--find-links", find_links] if find_links else []),
        "--target",
        target,
        *requirements,
    ]


def bytecode_python(version: str = PYTHON_VERSION, *, environ: Mapping[str, str] | None = None) -> str | None:
    """A CPython `version` interpreter on this machine to compile the asset's bytecode with, or None."""
    env = os.environ if environ is None else environ
    candidates = [env.get("OPSBOT_BYTECODE_PYTHON") or "", shutil.which(f"python{version}", path=env.get("PATH")) or ""]
    pyenv_root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.split() == [version, "cpython"]:
            return candidate
    return None


def compile_command(python: str, directory: str) -> list[str]:
    """Byte-compile everything in the asset. Unchecked-hash .pyc: used as they are, whatever the files' mtimes
    in the zip (the asset never changes once built); `-d /var/task` names the sources as Lambda sees them."""
    return [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        LAMBDA_TASK_ROOT,
        directory,
    ]


def _is_cache(name: str) -> bool:
    return name == "__pycache__" or name.endswith((".pyc", ".pyo"))


def _ignore_caches(_directory: str, names: list[str]) -> set[str]:
    return {n for n in names if _is_cache(n)}


def _package_files(package_dir: Path) -> Iterator[Path]:
    """Every file `try_bundle` copies from the package, in a stable order."""
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and not any(_is_cache(part) for part in path.relative_to(package_dir).parts):
            yield path


Runner = Callable[..., Any]


@jsii.implements(ILocalBundling)
class PipBundling:
    """Builds a Lambda asset on this machine: pip for the Lambda platform, then our packages.

    A plain class, not a dataclass: jsii would try to serialise a dataclass's fields.
    """

    def __init__(
        self,
        *,
        packages: Sequence[str],
        requirements: Sequence[str],
        files: Mapping[str, bytes] | None = None,
        root: Path = PROJECT_ROOT,
        run: Runner = subprocess.run,
        bytecode_python: str | None = None,
        plugin_packages: Mapping[str, Path] | None = None,
    ) -> None:
        self.packages = tuple(packages)
        #: The plugins' top-level packages (name -> directory), copied beside ours.
        self.plugin_packages = tuple(sorted((plugin_packages or {}).items()))
        self.requirements = tuple(requirements)
        #: Data files written at the root of the asset (name -> content), e.g. the worker's inventory.
        self.files = tuple(sorted((files or {}).items()))
        for name, _ in self.files:
            if not _ASSET_FILE_NAME.match(name) or name in self.packages:
                raise BundlingError(f"{name!r} cannot be a file at the root of the asset")
        self.root = root
        self.run = run
        #: The CPython 3.13 that compiles the asset's .pyc (None: the asset ships sources only).
        self.bytecode_python = bytecode_python

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        """CDK calls this before Docker bundling; returning True means Docker is never used."""
        if self.requirements:
            with tempfile.TemporaryDirectory(prefix="opsbot-wheels-") as wheelhouse:
                for distribution in SOURCE_ONLY_PURE_PYTHON:
                    self._pip(pure_wheel_command(wheelhouse, distribution))
                self._pip(pip_command(output_dir, self.requirements, find_links=wheelhouse))
        for package in self.packages:
            shutil.copytree(self.root / package, Path(output_dir) / package, ignore=_ignore_caches)
        for package, directory in self.plugin_packages:
            shutil.copytree(directory, Path(output_dir) / package, ignore=_ignore_caches)
        for name, content in self.files:
            (Path(output_dir) / name).write_bytes(content)
        if self.bytecode_python:
            self._pip(compile_command(self.bytecode_python, output_dir), what="compileall")
        return True

    def _pip(self, command: list[str], what: str = "pip") -> None:
        result = self.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BundlingError(f"{what} could not build the Lambda asset ({' '.join(command[3:])}):\n{result.stderr}")

    def fingerprint(self) -> str:
        """A hash of everything the asset is built from: our sources, the data files, the pinned
        requirements, the platform.

        Used as the asset hash, so an unchanged asset is not rebuilt or re-uploaded.
        """
        digest = hashlib.sha256()
        bytecode = "pyc" if self.bytecode_python else "no-pyc"
        for part in (_RECIPE_VERSION, PYTHON_VERSION, bytecode, *PLATFORMS, *self.requirements):
            digest.update(part.encode() + b"\0")
        for package in self.packages:
            for path in _package_files(self.root / package):
                digest.update(str(path.relative_to(self.root)).encode() + b"\0" + path.read_bytes() + b"\0")
        for package, directory in self.plugin_packages:
            for path in _package_files(directory):
                digest.update(f"plugin/{package}/{path.relative_to(directory)}".encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
        for name, content in self.files:
            digest.update(b"file\0" + name.encode() + b"\0" + content + b"\0")
        return digest.hexdigest()


@dataclass(frozen=True)
class BundledPlugins:
    """The plugins an asset carries: their top-level packages (name -> directory) and the index (`INDEX_FILE`)."""

    plugins: tuple[Plugin, ...]
    packages: dict[str, Path]
    index: bytes
    #: What the plugins' distributions require (canonical name -> requirement line), beside opsbot's own.
    requirements: dict[str, str]


def bundled_plugins(plugins: Sequence[Plugin] | None = None) -> BundledPlugins:
    """The installed plugins (their entry points, read here and never at run time), each loaded and found on
    disk; `PluginError` naming a plugin that does not load."""
    found = discover() if plugins is None else tuple(plugins)
    packages: dict[str, Path] = {}
    for plugin in found:
        spec_module(plugin)  # a plugin that does not import fails the build, named
        top = plugin.module.split(".")[0]
        package = sys.modules[top]
        locations = list(getattr(package, "__path__", []))
        if not locations:
            raise plugin.error(f"{top} is a module, not a package: opsbot bundles a plugin's package")
        if top in FIRST_PARTY:
            raise plugin.error(f"its package {top!r} is one of opsbot's own")
        packages[top] = Path(locations[0])
    return BundledPlugins(found, packages, index_json(found), plugin_requirements(found))


def plugin_requirements(plugins: Sequence[Plugin]) -> dict[str, str]:
    """The plugins' distributions' own requirements (`Requires-Dist`, extras left out), by canonical name."""
    found: dict[str, str] = {}
    for plugin in plugins:
        name = plugin.distribution.rsplit(" ", 1)[0]
        try:
            lines = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in lines:
            requirement = line.split(";", 1)[0].strip()
            matched = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if matched is not None and "extra ==" not in line:
                found[_canonical(matched.group(1))] = requirement
    return found


def function_code(
    packages: Sequence[str], *, files: Mapping[str, bytes] | None = None, root: Path = PROJECT_ROOT
) -> tuple[lambda_.Code, PipBundling]:
    """The Lambda code asset of a function made of `packages` (its handler package first), plus data
    `files` at the asset's root (at `LAMBDA_TASK_ROOT/<name>` on Lambda), and the bundler that builds it.
    The asset hash is the bundler's fingerprint: it covers the files too."""
    python = bytecode_python()
    if python is None:
        logging.getLogger(__name__).warning(
            "no CPython %s on this machine: the %s asset ships without bytecode (slower cold starts); "
            "install one or set OPSBOT_BYTECODE_PYTHON",
            PYTHON_VERSION,
            packages[0],
        )
    plugins = bundled_plugins()
    bundler = PipBundling(
        packages=tuple(packages),
        requirements=requirements_for(
            packages, root=root, extra_dirs=tuple(plugins.packages.values()), extra_declared=plugins.requirements
        ),
        files={**(files or {}), INDEX_FILE: plugins.index, COMMAND_INDEX_FILE: command_index_json()},
        root=root,
        bytecode_python=python,
        plugin_packages=plugins.packages,
    )
    code = lambda_.Code.from_asset(
        str(root / packages[0]),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundler.fingerprint(),
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or raises. CDK requires an image anyway.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
            # jsii calls try_bundle(output_dir, options) positionally, not with the keyword
            # arguments of the generated Python protocol: hence the cast.
            local=cast(ILocalBundling, bundler),
        ),
    )
    return code, bundler
