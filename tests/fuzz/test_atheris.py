"""A short coverage-guided campaign (atheris) against the ack handler, where atheris installs (Linux x86_64)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5000


def test_a_short_atheris_campaign_finds_no_5xx_no_escaping_exception_and_no_unsigned_job(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.atheris_ack",
            f"-runs={RUNS}",
            "-max_len=2048",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # libFuzzer exits non-zero on an invariant broken
    counts = re.findall(r"atheris ack fuzzing: (\{.*\})", result.stderr)
    assert counts, result.stderr[-2000:]
    last = ast.literal_eval(counts[-1])
    assert last["inputs"] >= RUNS - 1000
    assert not any(key.startswith("status 5") for key in last)
