"""Plugins: found through the `opsbot.commands` entry points (or a Lambda asset's index), loaded with the same
checks as opsbot's own commands, and refused at start, named, when they break one. Each case installs a plugin
for real: a distribution's metadata (`*.dist-info` with its `entry_points.txt`) on a fresh interpreter's path,
which is all `pip install` leaves for `importlib.metadata` to find."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from shared.plugins import Plugin, PluginError, discover, index_json, read_index

ROOT = Path(__file__).resolve().parents[2]

#: A minimal plugin: one read-only command with its operation, and nothing wrong with it.
GOOD_SPEC = """
from typing import Literal
from shared.commands.spec import CommandSpec, TargetArgs

class EchoArgs(TargetArgs):
    kind: Literal["echo_target"] = "echo_target"

SPEC = CommandSpec(
    name="/echo-target",
    args_model=EchoArgs,
    description="Say a target's name back.",
    positional=("target",),
    usage_hint="<target>",
    reads_only=True,
    operation="{package}.operation:OPERATION",
)
"""
GOOD_OPERATION = """
from worker_function import job_messages

class Echo:
    effects = ()
    permissions = ()

    def run(self, args, job, ctx):
        return job_messages.outcome(True, f"echo {args.target}")

OPERATION = Echo()
"""


def install(site: Path, name: str, files: dict[str, str], *, entry: str | None = None) -> Path:
    """A distribution `name` installed in `site`: its package files and its dist-info naming the entry point."""
    package = name.replace("-", "_")
    for path, source in files.items():
        target = site / package / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source).replace("{package}", package))
    (site / package / "__init__.py").touch()
    info = site / f"{package}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[opsbot.commands]\n{name} = {entry or package + '.spec'}\n")
    return site


def python(site: Path, code: str, *, hide_installed: bool = False) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter with `site` on its path (and, with `hide_installed`, no other plugin)."""
    prelude = ""
    if hide_installed:  # the entry points of the venv's own distributions (an installed example plugin) hidden
        prelude = textwrap.dedent(
            f"""
            import importlib.metadata as m
            _all = m.entry_points
            def entry_points(**kw):
                found = _all(**kw)
                if kw.get("group") == "opsbot.commands":
                    ours = [e for e in found if e.dist is not None and str(e.dist._path).startswith({str(site)!r})]
                    return m.EntryPoints(ours)
                return found
            m.entry_points = entry_points
            """
        )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


def test_an_installed_plugin_is_a_command_with_help_and_a_place_in_the_manifest(tmp_path):
    site = install(tmp_path, "echo-plugin", {"spec.py": GOOD_SPEC, "operation.py": GOOD_OPERATION})

    done = python(
        site,
        """
        import json
        from shared.commands import find_command
        from infra.cli.manifest import build_manifest
        from worker_function.operations.registry import operation_for
        spec = find_command("/echo-target")
        manifest = build_manifest("https://example.com/slack/events")
        names = [c["command"] for c in manifest["features"]["slash_commands"]]
        print(json.dumps([spec.name, spec.kind, "/echo-target" in names, type(operation_for("echo_target")).__name__]))
        """,
        hide_installed=True,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["/echo-target", "echo_target", True, "GuardedOperation"]


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({"spec.py": "raise RuntimeError('boom at import')"}, "its spec module echo_plugin.spec does not import"),
        ({"spec.py": GOOD_SPEC.replace('"/echo-target"', '"/ops-restart"')}, "/ops-restart"),
        ({"spec.py": GOOD_SPEC.replace('positional=("target",)', 'positional=("service_name",)')}, "service_name"),
        ({"spec.py": "SPEC = 'not a spec'"}, "not a CommandSpec"),
    ],
    ids=["does not import", "name of a built-in", "breaks a spec rule", "no spec"],
)
def test_a_plugin_that_cannot_be_loaded_stops_the_start_naming_the_plugin_and_the_rule(tmp_path, files, said):
    site = install(tmp_path, "echo-plugin", {"operation.py": GOOD_OPERATION, **files})

    for code in ("from shared.commands import COMMANDS", "import ack_function.handler"):
        done = python(site, code, hide_installed=True)

        assert done.returncode != 0, code
        assert "plugin 'echo-plugin' (echo-plugin 0.1)" in done.stderr and said in done.stderr, done.stderr


def test_two_plugins_with_one_command_name_stop_the_start_naming_both(tmp_path):
    install(tmp_path, "echo-plugin", {"spec.py": GOOD_SPEC, "operation.py": GOOD_OPERATION})
    install(
        tmp_path,
        "echo-two",
        {"spec.py": GOOD_SPEC.replace('"echo_target"', '"echo_two"'), "operation.py": GOOD_OPERATION},
    )

    done = python(tmp_path, "from shared.commands import COMMANDS", hide_installed=True)

    assert done.returncode != 0
    assert "plugin 'echo-two'" in done.stderr and "/echo-target" in done.stderr and "echo-plugin" in done.stderr


def test_an_operation_that_breaks_a_rule_stops_the_worker_naming_the_plugin(tmp_path):
    mutating = GOOD_SPEC.replace("reads_only=True,", 'target="target", subject="target", accepts="target",')
    site = install(tmp_path, "echo-plugin", {"spec.py": mutating, "operation.py": GOOD_OPERATION})

    done = python(site, "from worker_function.operations.registry import check_all; check_all()", hide_installed=True)

    assert done.returncode != 0
    assert "echo-plugin" in done.stderr and "preview" in done.stderr, done.stderr


def test_uninstalled_nothing_of_the_example_plugin_remains(tmp_path):
    done = python(
        tmp_path,
        """
        import json
        from shared.commands import COMMANDS
        from shared.inventory_entries import plugin_kinds
        from infra.cli.manifest import build_manifest
        from infra.devstack.demo import plugin_demo_commands
        manifest = json.dumps(build_manifest("https://example.com/slack/events"))
        print(json.dumps({
            "commands": [s.name for s in COMMANDS if "cdn" in s.name],
            "kinds": sorted(plugin_kinds()),
            "manifest": "cdn-invalidate" in manifest,
            "demo": list(plugin_demo_commands()),
        }))
        """,
        hide_installed=True,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"commands": [], "kinds": [], "manifest": False, "demo": []}


def test_entry_points_name_a_spec_module_and_one_plugin_per_name():
    point = EntryPoint("cloudfront", "opsbot_cloudfront.spec", "opsbot.commands")
    assert discover([point]) == (Plugin("cloudfront", "opsbot_cloudfront.spec"),)
    with pytest.raises(PluginError, match="must name its spec module"):
        discover([EntryPoint("cloudfront", "opsbot_cloudfront.spec:SPEC", "opsbot.commands")])
    with pytest.raises(PluginError, match="cannot share a name"):
        discover([point, EntryPoint("cloudfront", "other.spec", "opsbot.commands")])


def test_an_assets_index_lists_what_was_installed_when_it_was_built(tmp_path):
    plugins = (Plugin("cloudfront", "opsbot_cloudfront.spec", "opsbot-cloudfront 0.1.0"),)
    path = tmp_path / "opsbot_plugins.json"
    path.write_bytes(index_json(plugins))

    assert read_index(path) == plugins
    path.write_text("{")
    with pytest.raises(PluginError, match="cannot be read"):
        read_index(path)


def test_a_lambda_asset_carries_its_plugins_and_reads_their_index_without_scanning_entry_points(tmp_path):
    site = install(tmp_path / "site", "echo-plugin", {"spec.py": GOOD_SPEC, "operation.py": GOOD_OPERATION})
    asset = tmp_path / "asset"
    built = python(
        site,
        f"""
        from infra.aws.bundling import PipBundling, bundled_plugins
        from shared.plugins import INDEX_FILE
        found = bundled_plugins()
        bundler = PipBundling(
            packages=("shared",), requirements=(), files={{INDEX_FILE: found.index}}, plugin_packages=found.packages
        )
        bundler.try_bundle({str(asset)!r})
        """,
        hide_installed=True,
    )
    assert built.returncode == 0, built.stderr
    assert (asset / "echo_plugin" / "spec.py").is_file() and (asset / "opsbot_plugins.json").is_file()

    # As on Lambda: the asset alone on the path (with the third-party libraries), and no entry point may be read.
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import importlib.metadata as m
                scan = m.entry_points
                def refuse(**kw):  # (pydantic reads its own group, "pydantic", whatever opsbot does)
                    if kw.get("group") == "opsbot.commands":
                        raise AssertionError("opsbot's plugins looked up on a cold start")
                    return scan(**kw)
                m.entry_points = refuse
                from shared.commands import find_command
                print(find_command("/echo-target").plugin, find_command("/cdn-invalidate"))
                """
            ),
        ],
        capture_output=True,
        text=True,
        cwd=asset,
        env={"PYTHONPATH": str(asset), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["echo-plugin", "None"]
