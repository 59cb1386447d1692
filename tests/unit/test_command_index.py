"""The command index a Lambda asset carries (`opsbot_commands.json`): a cold start reads it instead of listing
`shared.commands.builtin`, imports only the commands its requests name, and validates a job's args by the model of
the kind they name. Each asset case runs a fresh interpreter on a copy of `shared` with the index beside it, as
infra/aws/bundling.py lays an asset out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared.commands import COMMANDS, DryRunArgs, find_command
from shared.commands.registry import (
    INDEX_FILE,
    CommandLoadError,
    Entry,
    index_json,
    job_kinds,
    module_specs,
    read_index,
)
from shared.errors import JobFormatError
from shared.jobs import JobEnvelope
from shared.plugins import INDEX_FILE as PLUGIN_INDEX_FILE
from shared.plugins import index_json as plugin_index_json
from shared.plugins import installed

ROOT = Path(__file__).resolve().parents[2]


def asset_with_index(tmp_path: Path, index: bytes) -> Path:
    asset = tmp_path / "asset"
    shutil.copytree(ROOT / "shared", asset / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    (asset / INDEX_FILE).write_bytes(index)
    (asset / PLUGIN_INDEX_FILE).write_bytes(plugin_index_json(installed()))
    return asset


def run_in(asset: Path, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        cwd=asset,
        env={"PYTHONPATH": str(asset), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=False,
    )


def test_given_the_registry_when_indexed_then_every_command_is_listed_with_the_module_that_defines_it(tmp_path):
    path = tmp_path / INDEX_FILE
    path.write_bytes(index_json())

    entries = read_index(path)

    assert [e.name for e in entries] == [spec.name for spec in COMMANDS]
    for entry, spec in zip(entries, COMMANDS, strict=True):
        assert entry.kind == spec.kind and entry.plugin == spec.plugin
        assert spec.name in {s.name for s in module_specs(sys.modules[entry.module])}


def test_given_an_unreadable_index_or_one_with_a_name_twice_then_it_is_refused(tmp_path):
    path = tmp_path / INDEX_FILE
    path.write_text("{")
    with pytest.raises(CommandLoadError, match="cannot be read"):
        read_index(path)
    twice = [Entry("/ops-ping", "ping", "shared.commands.builtin.ping")._asdict()] * 2
    path.write_text(json.dumps({"version": 1, "commands": twice}))
    with pytest.raises(CommandLoadError, match="twice"):
        read_index(path)


def test_given_an_asset_with_the_index_when_a_request_names_a_command_then_only_that_command_is_imported(tmp_path):
    asset = asset_with_index(tmp_path, index_json())

    ran = run_in(
        asset,
        """
        import json, pkgutil, sys
        def refuse(*a, **k):
            raise AssertionError("a package listed on a cold start")
        pkgutil.iter_modules = refuse
        from shared.commands import find_command
        from shared.commands.registry import command_names
        from shared.jobs import JobEnvelope, Requester, utcnow
        names = command_names()
        spec = find_command("/ops-restart")
        job = JobEnvelope(job_id="0123456789abcdef", command=spec.name, text="payment",
                          requester=Requester(user_id="U1", team_id="T1", channel_id="C1"), issued_at=utcnow(),
                          args=spec.parse("payment"), correlation_id="c")
        back = JobEnvelope.from_message(job.to_message())
        loaded = sorted(m for m in sys.modules if m.startswith("shared.commands.builtin."))
        print(json.dumps({"names": len(names), "loaded": loaded, "same": back == job, "kind": back.kind}))
        """,
    )

    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["loaded"] == ["shared.commands.builtin.restart"] and out["names"] == len(COMMANDS)
    assert out["same"] and out["kind"] == "restart"


def test_given_an_asset_with_the_index_when_every_command_is_asked_for_then_all_load_as_without_it(tmp_path):
    asset = asset_with_index(tmp_path, index_json())

    ran = run_in(
        asset,
        """
        from shared.commands import COMMANDS
        from shared.commands.registry import prime
        prime()
        print(" ".join(f"{s.name}:{s.kind}" for s in COMMANDS))
        """,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [f"{s.name}:{s.kind}" for s in COMMANDS]


def test_given_a_stale_index_when_its_command_is_named_then_the_start_is_refused_naming_it(tmp_path):
    stale = [
        Entry("/ops-restart", "restart", "shared.commands.builtin.ping")._asdict(),
        Entry("/ops-ping", "ping", "shared.commands.builtin.ping")._asdict(),
    ]
    asset = asset_with_index(tmp_path, json.dumps({"version": 1, "commands": stale}).encode())

    ran = run_in(asset, "from shared.commands import find_command; find_command('/ops-restart')")

    assert ran.returncode != 0
    assert "CommandLoadError: /ops-restart: shared.commands.builtin.ping does not define it" in ran.stderr


def test_given_job_args_then_they_are_validated_by_the_model_of_the_kind_they_name():
    spec = find_command("/ops-restart")
    assert spec is not None
    args = DryRunArgs(of=spec.parse("payment"))
    body = JobEnvelope(
        job_id="0123456789abcdef",
        requester={"user_id": "U1", "team_id": "T1", "channel_id": "C1"},
        issued_at="2026-12-06T18:00:00Z",
        args=args,
        correlation_id="c",
    ).to_message()

    back = JobEnvelope.from_message(body)

    assert back.args == args and type(back.args.of) is spec.args_model  # type: ignore[attr-defined]
    assert json.loads(body)["args"] == {"kind": "dry_run", "of": {"kind": "restart", "target": "payment"}}
    envelope = json.loads(body)
    for args_json, error in (
        ({"kind": "nope"}, "args: Value error, the kind 'nope' is not one of"),
        ({"kind": "restart"}, "args/target: Field required"),
        ({"kind": "dry_run", "of": {"kind": "settle"}}, "args/of: Value error, the kind 'settle' is not one of"),
        ({"target": "payment"}, "args: Value error, the kind None is not one of"),
    ):
        with pytest.raises(JobFormatError, match=error):
            JobEnvelope.from_message(json.dumps({**envelope, "args": args_json}))
    assert {"dry_run", "settle", "restart"} <= set(job_kinds())


def test_given_an_asset_with_the_index_when_an_inventory_without_a_policy_loads_then_no_command_is_imported(tmp_path):
    asset = asset_with_index(tmp_path, index_json())
    inventory = tmp_path / "inventory.toml"
    inventory.write_text('[targets.payment]\necs = { cluster = "c", service = "payment", min = 2, max = 5000 }\n')

    ran = run_in(
        asset,
        f"""
        import json, sys
        from shared.inventory import load_inventory
        bounds = load_inventory({str(inventory)!r}).targets["payment"].ecs.bounds
        loaded = sorted(m for m in sys.modules if m.startswith("shared.commands.builtin."))
        print(json.dumps({{"bounds": bounds, "loaded": loaded}}))
        """,
    )

    assert ran.returncode == 0, ran.stderr
    # The bounds' ceiling (ECS's 5,000 tasks) is not the /ops-scale command's to define: its module stays unloaded.
    assert json.loads(ran.stdout) == {"bounds": [2, 5000], "loaded": []}
