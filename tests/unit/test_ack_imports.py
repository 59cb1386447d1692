"""The ack's cold start loads only what the ack needs: no AWS SDK and no worker code (bench/ measures the time).

With its secret read by ARN (as deployed) too: tests/integration/test_secrets.py reads it from moto server."""

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
    assert not packages & {"worker_function", "infra", "moto", "jenkins"}
    assert not sdk_modules(loaded)
    assert "slack_bolt.adapter.aws_lambda" not in loaded  # Bolt's adapter imports boto3 for lazy listeners


#: The AWS SDK: boto3 and everything it loads. Powertools' user-agent hook imports the bare `botocore` package
#: (`botocore/__init__.py`, 0.5 ms); any module of botocore's own is the SDK (jmespath is Powertools' own dependency).
SDK = ("boto3", "s3transfer", "urllib3")


def sdk_modules(loaded: set[str]) -> set[str]:
    return {name for name in loaded if name.split(".")[0] in SDK or name.startswith("botocore.")}


def test_a_snapstart_restore_of_the_deployed_ack_loads_no_aws_sdk_even_when_the_secret_cannot_be_read():
    probe = (
        "import json, sys\n"
        "import snapshot_restore_py as hooks\n"
        "import ack_function.handler as h\n"
        "hooks.run_after_restore()\n"
        "assert h._function is not None and h._function.handler is None  # nothing listens: refused, not crashed\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'bench' / 'snapstart'}",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "POWERTOOLS_METRICS_NAMESPACE": "opsbot-test",
        "OPSBOT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:opsbot",
        "JOBS_QUEUE_URL": "http://127.0.0.1:9/123456789012/jobs",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens: the read fails, through the same code
        "AWS_ACCESS_KEY_ID": "AKIDRESTORED",
        "AWS_SECRET_ACCESS_KEY": "restored",
    }
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))

    assert not sdk_modules(loaded)
    assert "aws_lambda_powertools.utilities.parameters" not in loaded
    assert "shared.secrets" in loaded and "could not connect" in out.stdout  # the read was tried, and said why


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


def test_an_ack_given_the_inventory_as_the_assets_ship_it_json_loads_no_toml_parser(tmp_path):
    from shared.inventory import inventory_json

    shipped = tmp_path / "inventory.json"  # what the CDK app writes at synth
    shipped.write_bytes(inventory_json((ROOT / "inventory.example.toml").read_bytes()))
    base = {"SLACK_SIGNING_SECRET": "s", "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}

    from_json = loaded_modules({**base, "OPSBOT_INVENTORY": str(shipped)})
    from_toml = loaded_modules({**base, "OPSBOT_INVENTORY": str(ROOT / "inventory.example.toml")})

    assert "tomllib" in from_toml and "shared.policy" in from_toml
    assert "tomllib" not in from_json and "shared.policy" in from_json


def test_an_inventory_file_that_is_not_json_is_refused_naming_the_file(tmp_path):
    import pytest

    from shared.inventory import InventoryError, load_inventory

    bad = tmp_path / "inventory.json"
    bad.write_text('{"targets": ')
    with pytest.raises(InventoryError, match=r"inventory\.json is not valid JSON"):
        load_inventory(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InventoryError, match="a JSON object was expected"):
        load_inventory(bad)
    bad.write_text('{"targets": {"payment": {"ecs": {"cluster": "c"}}}}')
    with pytest.raises(InventoryError, match=r"targets\.payment"):
        load_inventory(bad)


def test_the_inventory_ships_as_json_with_the_tables_and_values_of_the_toml_and_a_toml_date_is_refused():
    import pytest

    from shared.inventory import InventoryError, inventory_json

    toml = b'[targets.payment]\nenvironment = "prod"\necs = { cluster = "c", service = "payment", min = 2 }\n'
    assert json.loads(inventory_json(toml)) == {
        "targets": {"payment": {"environment": "prod", "ecs": {"cluster": "c", "service": "payment", "min": 2}}}
    }
    with pytest.raises(InventoryError, match="JSON cannot carry"):
        inventory_json(b"[targets.payment]\nsince = 2026-12-06\n")
    with pytest.raises(InventoryError, match="not valid TOML"):
        inventory_json(b"[targets.payment\n")
