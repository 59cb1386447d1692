"""The ack's cold start loads only what the ack needs: no boto3 and no worker code (bench/ measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import ack_function.handler as h
assert h._function is not None and h._function.handler is not None, "the ack did not initialise"
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(env: dict[str, str]) -> set[str]:
    base = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "POWERTOOLS_METRICS_NAMESPACE": "opsbot-test"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_cold_ack_with_its_secret_in_the_environment_loads_no_aws_sdk_and_no_worker_code():
    loaded = loaded_modules({"SLACK_SIGNING_SECRET": "s", "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"})
    packages = {name.split(".")[0] for name in loaded}

    assert {"slack_bolt", "ack_function", "shared"} <= packages
    assert not packages & {"boto3", "urllib3", "s3transfer", "worker_function", "infra", "moto", "jenkins"}
    # Powertools' user-agent hook imports the bare `botocore` package (0.5 ms); none of the SDK itself loads.
    assert not {"botocore.session", "botocore.client", "botocore.loaders"} & loaded
    assert "slack_bolt.adapter.aws_lambda" not in loaded  # Bolt's adapter imports boto3 for lazy listeners


def test_loading_an_inventory_builds_every_model_a_policy_decision_needs():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import shared.policy as p, shared.inventory as i\n"
            "before = p.PolicyRequest.__pydantic_complete__\n"
            "i.load_inventory('inventory.example.toml')\n"
            "print(before, all(m.__pydantic_complete__ for m in (p.PolicyRequest, p.Decision, p.Approval)))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    # Not built at import (an ack without a policy never pays), all built with the inventory at init (so the
    # first request's decision pays nothing extra).
    assert out.stdout.split() == ["False", "True"]
