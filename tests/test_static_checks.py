"""The standing checks run with the tests: lint, format, types, and the import contracts between packages.

A cold mypy (no .mypy_cache) is the slow one: 63 s on a 2-core machine with two CPU-bound processes beside
it and a load average of 8 (2026-12-01; it took over 600 s while it still followed aws-cdk-lib, see
pyproject.toml), past the suite's 120 s per-test timeout: these get their own. mypy's cache makes every
later run take seconds (3 s there)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Seconds per check: about 10x the cold mypy measured under load.
CHECK_TIMEOUT_S = 600


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
    assert exe, f"{tool} is not installed: pip install -e '.[dev]'"
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("ruff", ("check", ".")),
        ("ruff", ("format", "--check", ".")),
        ("lint-imports", ()),
        ("mypy", ()),
    ],
    ids=["ruff-check", "ruff-format", "import-contracts", "mypy"],
)
@pytest.mark.timeout(CHECK_TIMEOUT_S + 30)
def test_static_check_passes(tool, args):
    result = run(tool, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
