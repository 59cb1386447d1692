"""The standing checks run with the tests: lint, format, types, and the import contracts between packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
    assert exe, f"{tool} is not installed: pip install -e '.[dev]'"
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


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
def test_static_check_passes(tool, args):
    result = run(tool, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
