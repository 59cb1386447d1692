"""A SnapStart init of the ack: what goes into the snapshot, and what its hooks do (bench/ measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The bench's stand-in for the Lambda runtime's `snapshot_restore_py` (same API).
SNAPSTART = ROOT / "bench" / "snapstart"

PROBE = """
import gc, json
import snapshot_restore_py as hooks
import ack_function.handler as h
before = {"handler": h._function.handler is not None, "frozen": gc.get_freeze_count()}
ran = hooks.run_before_snapshot()
frozen = gc.get_freeze_count()
print(json.dumps({"before": before, "before_snapshot_hooks": ran, "frozen_after": frozen,
                  "after_restore_hooks": len(hooks.get_after_restore())}))
"""


def test_a_snapstart_init_freezes_its_heap_before_the_snapshot_and_reads_no_secret_into_it():
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{SNAPSTART}",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "POWERTOOLS_METRICS_NAMESPACE": "opsbot-test",
        "OPSBOT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:opsbot",
        "JOBS_QUEUE_URL": "http://127.0.0.1:9/123456789012/jobs",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])

    # No Bolt app (no secret read) and nothing frozen while init runs; the before-snapshot hook freezes the heap.
    assert report["before"] == {"handler": False, "frozen": 0}
    assert report["before_snapshot_hooks"] == 1 and report["frozen_after"] > 10_000
    assert report["after_restore_hooks"] == 1
