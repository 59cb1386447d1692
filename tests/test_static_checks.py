"""The standing checks run with the tests: lint, format, types, and the import contracts between packages.

A cold mypy (no .mypy_cache) on a loaded 2-core machine takes minutes, far past the suite's 120 s per-test
timeout: these get their own, measured with two CPU-bound processes beside the suite (README, "Run the
tests"). mypy's cache (.mypy_cache, incremental) makes every later run take seconds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Seconds per check: a cold mypy took 150 s beside two CPU-bound processes on 2 cores (README); 4x that.
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
