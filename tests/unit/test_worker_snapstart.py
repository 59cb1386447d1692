"""A SnapStart init of the worker: what goes into the snapshot, and what its after-restore hook renews in each
restored copy (bench/answer.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The bench's stand-in for the Lambda runtime's `snapshot_restore_py` (same API).
SNAPSTART = ROOT / "bench" / "snapstart"

#: Init as a snapshot, then two restores, each a fork: the child gets credentials (Lambda gives a restored copy
#: its own), runs the after-restore hooks and reports what it built.
PROBE = """
import json, os, random, sys
import snapshot_restore_py as hooks
import worker_function.handler as h
f = h._function
snapshot = {"dispatcher": f.dispatcher is not None, "alarms": f.alarms is not None,
            "after_restore_hooks": len(hooks.get_after_restore()), "loader": f._loader is not None,
            "models_loaded": any("dynamodb" in str(k) for k in f._loader._cache) if f._loader else False}
random.random()
restores = []
for i in range(2):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.environ.update(AWS_ACCESS_KEY_ID=f"restored{i}", AWS_SECRET_ACCESS_KEY="s")
        hooks.run_after_restore()
        aws = f.dispatcher.ctx.aws
        dynamodb = aws.client("dynamodb")
        out = {"random": random.random(), "key": dynamodb._request_signer._credentials.access_key,
               "shared_loader": aws.session._session.get_component("data_loader") is f._loader,
               "client": id(dynamodb), "alarms": f.alarms is not None}
        os.write(w, json.dumps(out).encode()); os._exit(0)
    os.close(w)
    restores.append(json.loads(os.read(r, 65536)))
    os.waitpid(pid, 0)
print(json.dumps({"snapshot": snapshot, "restores": restores}))
"""


def test_a_snapstart_worker_snapshots_no_credentials_and_each_restore_makes_its_own_clients_and_random_state():
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{SNAPSTART}",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        # No AWS keys at init, and a credentials endpoint nobody answers: the snapshot must not need either.
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/credentials",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "opsbot-test",
        "JOBS_QUEUE_URL": "http://127.0.0.1:9/123456789012/jobs",
        "OPSBOT_IDEMPOTENCY_TABLE": "idempotency",
        "OPSBOT_LEASES_TABLE": "leases",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])

    # The snapshot: the code and the SDK's data for DynamoDB, no dispatcher (no clients, credentials, connections).
    assert report["snapshot"] == {
        "dispatcher": False,
        "alarms": False,
        "after_restore_hooks": 1,
        "loader": True,
        "models_loaded": True,
    }
    first, second = report["restores"]
    # Each restored copy signs with the credentials it was given, from clients of its own, on the shared SDK data.
    assert (first["key"], second["key"]) == ("restored0", "restored1")
    assert first["shared_loader"] and second["shared_loader"]
    assert first["alarms"] and second["alarms"]
    # ... and draws its own random numbers: the snapshot's state was reseeded.
    assert first["random"] != second["random"]
