"""Deployment choices from CDK context: the inventory (required, validated at synth) and the Jenkins URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk import App

from infra.aws.config import ConfigError, DeployConfig
from shared.inventory import Inventory, InventoryError
from tests.infra.conftest import EXAMPLE_INVENTORY, JENKINS_URL, ROOT

#: Misses the service of an ECS target.
BAD_INVENTORY = """\
version = 1

[targets.payment]
ecs = { cluster = "example-cluster" }
"""


def _config(**context: Any) -> DeployConfig:
    return DeployConfig.from_context(App(context=context).node)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return str(path)


def test_given_the_example_inventory_then_it_is_read_as_the_worker_will_read_it():
    config = _config(inventory=str(EXAMPLE_INVENTORY), jenkinsUrl=JENKINS_URL)
    assert config.inventory == Inventory.from_toml(EXAMPLE_INVENTORY.read_text())
    assert config.inventory_file == EXAMPLE_INVENTORY.read_bytes()  # shipped as is, comments included
    assert config.jenkins_url == JENKINS_URL


def test_given_no_inventory_then_synth_stops_saying_how_to_give_one():
    with pytest.raises(ConfigError, match=r"-c inventory=inventory\.toml") as error:
        _config()
    assert "inventory.example.toml" in str(error.value)


def test_given_an_inventory_that_does_not_validate_then_synth_stops_naming_the_file_and_the_key(tmp_path):
    path = _write(tmp_path, BAD_INVENTORY)
    with pytest.raises(InventoryError, match=r"targets\.payment\.ecs\.service: Field required") as error:
        _config(inventory=path)
    assert path in str(error.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[targets.payment]\nenvironment = "production"\n', "targets.payment.environment"),
        ("[targets.payment]\nlog_group = ['/x']\n", "targets.payment.log_group"),
        ("[targets.payment\n", "not valid TOML"),
    ],
)
def test_given_other_bad_inventories_then_the_error_names_what_is_wrong(tmp_path, text, named):
    with pytest.raises(InventoryError, match=named.replace(".", r"\.")):
        _config(inventory=_write(tmp_path, text))


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ('[targets.a]\necs = { cluster = "apps", service = "*" }\n', "targets.a.ecs.service"),
        ('[targets.a]\necs = { cluster = "prod/apps", service = "api" }\n', "targets.a.ecs.cluster"),
        ('[targets.a]\nlog_groups = ["/ok", "/ecs/*"]\n', "targets.a.log_groups.1"),
        ('[targets.a]\npipeline = "deploy-?"\n', "targets.a.pipeline"),
        ('[targets.a]\nmigration = { codebuild_project = "db:migrate" }\n', "targets.a.migration.codebuild_project"),
        ('[suites.s]\ncodebuild_project = "smoke*"\n', "suites.s.codebuild_project"),
    ],
)
def test_given_a_name_its_service_would_refuse_then_synth_stops_before_iam_reads_it_as_a_wildcard(tmp_path, entry, key):
    with pytest.raises(InventoryError, match=rf"{key.replace('.', '[.]')}: .* is not a valid .* name"):
        _config(inventory=_write(tmp_path, entry))


def test_given_a_path_that_cannot_be_read_then_synth_stops_naming_it(tmp_path):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(InventoryError, match=rf"cannot read the inventory {missing}"):
        _config(inventory=missing)


def test_given_the_retired_ecs_cluster_context_then_synth_says_the_inventory_replaced_it():
    with pytest.raises(ConfigError, match="ecsCluster is no longer read"):
        _config(ecsCluster="opsbot-demo", inventory=str(EXAMPLE_INVENTORY), jenkinsUrl=JENKINS_URL)


#: The example inventory with its Jenkins job uncommented: what a deployment using /ops-build starts from.
def _uncommented(text: str, table: str) -> str:
    """`text` with the commented-out `# [table]` and the lines after it up to a blank line uncommented."""
    commented = text[text.index(f"# [{table}]") :].split("\n\n", 1)[0]
    uncommented = "\n".join(line.removeprefix("# ") for line in commented.splitlines())
    return text.replace(commented, uncommented)


def _example_with_jenkins() -> str:
    return _uncommented(EXAMPLE_INVENTORY.read_text(), "jenkins_jobs.deploy-web")


def test_given_the_example_inventory_as_it_is_then_it_deploys_without_a_jenkins_url():
    """A first deploy copies the example: nothing in it may need context it does not mention."""
    config = _config(inventory=str(EXAMPLE_INVENTORY))
    assert config.jenkins_url is None
    assert not config.inventory.jenkins_jobs


def test_given_the_example_inventory_as_it_is_then_the_stack_synthesizes_without_a_jenkins_url():
    from tests.infra.conftest import synthesize

    synthesized = synthesize(inventory=str(EXAMPLE_INVENTORY))
    worker = synthesized.json["Resources"][synthesized.logical_id(synthesized.stack.worker.function)]
    assert "OPSBOT_INVENTORY" in worker["Properties"]["Environment"]["Variables"]
    assert "JENKINS_URL" not in worker["Properties"]["Environment"]["Variables"]


def test_given_the_examples_jenkins_job_uncommented_then_it_is_a_valid_jenkins_job():
    inventory = Inventory.from_toml(_example_with_jenkins())
    assert set(inventory.jenkins_jobs) == {"deploy-web"}


def test_given_jenkins_jobs_without_a_jenkins_url_then_synth_stops_saying_what_to_pass_and_why(tmp_path):
    path = _write(tmp_path, _example_with_jenkins())
    with pytest.raises(ConfigError) as error:
        _config(inventory=path)
    said = str(error.value)
    assert "names Jenkins jobs (deploy-web) for /ops-build" in said
    assert "-c jenkinsUrl=https://" in said
    assert "jenkins_user and jenkins_api_token" in said
    assert "remove the [jenkins_jobs] tables" in said


def test_given_jenkins_jobs_and_a_jenkins_url_then_the_worker_gets_it(tmp_path):
    config = _config(inventory=_write(tmp_path, _example_with_jenkins()), jenkinsUrl=JENKINS_URL)
    assert config.jenkins_url == JENKINS_URL


@pytest.mark.parametrize(
    "url", ["http://jenkins.example.com", "jenkins.example.com", "https://", "https://j.example.com/?x=1"]
)
def test_given_a_jenkins_url_that_is_not_a_bare_https_url_then_synth_stops(url):
    with pytest.raises(ConfigError, match="jenkinsUrl"):
        _config(inventory=str(EXAMPLE_INVENTORY), jenkinsUrl=url)


def test_given_credentials_in_the_jenkins_url_then_synth_stops_without_echoing_them():
    with pytest.raises(ConfigError, match="jenkins_api_token") as error:
        _config(inventory=str(EXAMPLE_INVENTORY), jenkinsUrl="https://bot:s3cret-token@jenkins.example.com")
    assert "s3cret-token" not in str(error.value)


def _paths(value: Any, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return {prefix}
    return set().union(*(_paths(v, f"{prefix}.{k}" if prefix else k) for k, v in value.items()))


def _shape(text: str) -> dict[str, set[str]]:
    """Per section, the keys its entries use (entry names left out)."""
    data = tomllib.loads(text)
    return {
        section: set().union(*(_paths(entry) for entry in entries.values())) if isinstance(entries, dict) else set()
        for section, entries in data.items()
    }


def test_given_the_example_inventory_then_it_has_the_demo_inventorys_shape_with_other_names():
    demo = pytest.importorskip("infra.devstack.demo")
    example_text, demo_text = EXAMPLE_INVENTORY.read_text(), demo.demo_inventory_toml()
    # The example shows [accounts] commented out (a synth with it needs -c workerAccount): the demo's second
    # account is left out of the comparison. Its Jenkins job is commented out too (a synth with it needs
    # -c jenkinsUrl), and its runbook (a deploy with it adds a state machine): both compared uncommented.
    demo_shape = _shape(demo_text)
    demo_shape.pop("accounts")
    demo_shape["targets"] -= {"account"}
    assert _shape(_uncommented(_example_with_jenkins(), "runbooks.restart-safely")) == demo_shape
    example, local = Inventory.from_toml(example_text), Inventory.from_toml(demo_text)
    assert not {t.ecs.service for t in example.targets.values() if t.ecs} & {
        t.ecs.service for t in local.targets.values() if t.ecs
    }


def _run_app(tmp_path: Path, context: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`cdk synth` as the CLI runs the app: `python -m infra.aws.app` with the context in CDK_CONTEXT_JSON."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path / "cdk.out")}
    return subprocess.run(
        [sys.executable, "-m", "infra.aws.app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_given_the_cdk_cli_when_the_inventory_is_bad_then_synth_fails_with_one_line_not_a_traceback(tmp_path):
    path = _write(tmp_path, BAD_INVENTORY)
    result = _run_app(tmp_path, {"inventory": path})
    assert result.returncode == 1
    assert f"opsbot: {path} is invalid: targets.payment.ecs.service: Field required" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "cdk.out").glob("*.template.json"))
