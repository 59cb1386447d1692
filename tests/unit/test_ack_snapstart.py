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
import json, sys
import snapshot_restore_py as hooks
import ack_function.handler as h
f = h._function
clients = [f._sqs._client, f._secrets._client]
print(json.dumps({"handler": f.handler is not None, "after_restore_hooks": len(hooks.get_after_restore()),
                  "before_snapshot_hooks": len(hooks.get_before_snapshot()),
                  "connections": [c._connection is not None for c in clients],
                  "credentials": [c._credentials._credentials is not None for c in clients],
                  "sdk": sorted(m for m in sys.modules if m.split(".")[0] == "boto3" or m.startswith("botocore.")),
                  "lookup_code_loaded": "encodings.idna" in sys.modules,
                  "secret_model": "shared.secrets" in sys.modules}))
"""


def test_a_snapstart_init_puts_no_credentials_no_connection_and_no_secret_in_the_snapshot():
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

    # The clients are made but hold nothing unique or time-bound (no AWS keys are even in this environment): the
    # after-restore hook makes new ones, which resolve credentials, connect and read the secret. What a restore would
    # otherwise load on its first use is loaded: the code of a first host lookup, the secret's model.
    assert report == {
        "handler": False,
        "after_restore_hooks": 1,
        "before_snapshot_hooks": 0,
        "connections": [False, False],
        "credentials": [False, False],
        "sdk": [],
        "lookup_code_loaded": True,
        "secret_model": True,
    }
