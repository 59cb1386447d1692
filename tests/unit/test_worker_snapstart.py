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
import gc, json, os, random, sys
import snapshot_restore_py as hooks
import worker_function.handler as h
f = h._function
aws = f.dispatcher.ctx.aws
made = sorted(service for service, _once in aws._cache)
signers = [c._request_signer._credentials for c in aws._cache.values()]
pools = [p for c in aws._cache.values() for p in c._endpoint.http_session._manager.pools.keys()]
snapshot = {"after_restore_hooks": len(hooks.get_after_restore()), "clients": made, "token": f.web.token,
            "credentials_resolved": [c._frozen_credentials is not None for c in signers], "connections": len(pools),
            "operations_imported": "worker_function.operations.rollback" in sys.modules,
            "gc": [gc.isenabled(), gc.get_freeze_count() > 10000]}
random.random()
restores = []
for i in range(2):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.environ.update(AWS_ACCESS_KEY_ID=f"restored{i}", AWS_SECRET_ACCESS_KEY="s")
        hooks.run_after_restore()
        dynamodb = f.dispatcher.ctx.aws.client("dynamodb")
        frozen = dynamodb._request_signer._credentials.get_frozen_credentials()
        hooked = f.web.token
        try:
            f.web.api_call("auth.test")  # nobody answers on port 9: the token is read before the request is sent
        except Exception:
            pass
        out = {"random": random.random(), "key": frozen.access_key, "token": [hooked, f.web.token]}
        out["gc"] = gc.isenabled()
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
        "SLACK_BOT_TOKEN": "xoxb-test",  # the token's read after a restore: test_secrets reads it from the secret
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "OPSBOT_SLACK_MAX_RETRIES": "0",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])

    # The snapshot: every operation, every client jobs make, but no credentials resolved and no connection opened.
    assert report["snapshot"] == {
        "after_restore_hooks": 2,
        "clients": ["codebuild", "codepipeline", "dynamodb", "ec2", "ecs", "logs", "sqs", "sts"],
        "token": None,
        "credentials_resolved": [False] * 8,
        "connections": 0,
        "operations_imported": True,
        # No collection since the init began, and what it built is frozen: no restored copy's collection scans it.
        "gc": [False, True],
    }
    first, second = report["restores"]
    # Each restored copy signs with the credentials it was given and reads its token, after the restore, when its
    # first Web API call needs it (not in the hook: a job answered through its response_url never reads it) ...
    assert (first["key"], second["key"]) == ("restored0", "restored1")
    assert first["token"] == second["token"] == [None, "xoxb-test"]
    assert first["gc"] is second["gc"] is True  # collection enabled again by the restore
    # ... and draws its own random numbers: the snapshot's state was reseeded.
    assert first["random"] != second["random"]
