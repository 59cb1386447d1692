"""What keeps the suite fast without changing what it proves: the roles' template cut to what IAM reads and
synthesized once across processes (infra/devstack/deployed.py), boto3 clients sharing the SDK's data
(infra/devstack/aws.py), and how pytest-xdist shares the files (tests/conftest.py)."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest

from infra.devstack import aws, deployed
from tests import conftest

WHOLE = """\
version = 1

[targets.payment]
environment = "prod"
ecs = { cluster = "c", service = "payment" }

[policy]
default = "allow"

[[policy.rules]]
name = "dba"
commands = ["/ops-migrate"]

[intake]   # who may trigger
allowed_bots = ["B0DEPLOYBOT"]

[suites.smoke]
codebuild_project = "smoke"

[ "policy" . override_freeze ]
users = ["U0SRE"]
"""


def test_the_iam_inventory_drops_every_policy_and_intake_table_and_keeps_the_rest():
    cut = deployed.iam_inventory(WHOLE)
    whole = tomllib.loads(WHOLE)
    assert tomllib.loads(cut) == {k: v for k, v in whole.items() if k not in ("policy", "intake")}
    assert "suites" in tomllib.loads(cut) and "targets" in tomllib.loads(cut)
    assert deployed.iam_inventory(cut) == cut


def test_inventories_that_differ_only_in_policy_or_intake_tables_at_their_end_share_one_cut():
    """A test adds a rule or an [intake] after the demo inventory: the blank line before it must not make a template
    of its own (a synth each)."""
    base = 'version = 1\n\n[targets.a]\necs = { cluster = "c", service = "a" }\n'
    rule = '\n[[policy.rules]]\nname = "r"\ncommands = ["/ops-cancel"]\nusers = ["U0DANA"]\n'
    intake = '\n\n[intake]\nallowed_bots = ["B0X"]\n'
    cuts = {deployed.iam_inventory(text) for text in (base, base + rule, base + intake, base + rule + intake)}
    assert len(cuts) == 1, cuts


@pytest.mark.parametrize(
    "inventory",
    [
        'version = 1\npolicy = { default = "allow" }\n',  # inline: no table header to cut at
        "version = 1\n[targets.a\n",  # not TOML: synth says what is wrong with it
    ],
    ids=["inline", "invalid"],
)
def test_an_inventory_that_cannot_be_cut_by_its_tables_is_synthesized_as_it_is(inventory):
    assert deployed.iam_inventory(inventory) == inventory


def test_concurrent_callers_wanting_a_template_not_in_the_cache_synthesize_it_once(tmp_path, monkeypatch):
    """While one caller holds the template's lock (synthesizing), another waits and then reads what it wrote."""
    monkeypatch.setenv("OPSBOT_SYNTH_CACHE", str(tmp_path))
    monkeypatch.setattr(deployed, "_templates", {})
    inventory = "version = 1\n"
    path = tmp_path / f"{deployed.template_key(inventory)}.json"

    def no_second_synth(inventory: str, path: Path) -> None:
        raise AssertionError("synthesized while another process was synthesizing the same template")

    monkeypatch.setattr(deployed, "_synthesize_to", no_second_synth)
    looked = threading.Event()
    read = deployed._read_cached

    def read_cached(where: Path) -> dict | None:
        found = read(where)
        looked.set()
        return found

    monkeypatch.setattr(deployed, "_read_cached", read_cached)
    got: list[object] = []
    with deployed._synth_lock(path):  # "another process" synthesizing
        waiter = threading.Thread(target=lambda: got.append(deployed.template(inventory)))
        waiter.start()
        assert looked.wait(60)  # the waiter found no template and goes for the lock
        path.write_text('{"Resources": {}}')
    waiter.join(60)
    assert got == [{"Resources": {}}]


def test_boto3_clients_are_made_once_and_sessions_share_the_sdks_data():
    first = aws.aws_client("sqs", "http://127.0.0.1:9")
    assert aws.aws_client("sqs", "http://127.0.0.1:9") is first
    assert aws.aws_client("sqs", "http://127.0.0.1:10") is not first
    other_keys = {"aws_access_key_id": "a", "aws_secret_access_key": "b"}
    assert aws.aws_client("sqs", "http://127.0.0.1:9", credentials=other_keys) is not first
    one, two = aws.sdk_session(region_name="us-east-1"), aws.sdk_session(region_name="us-east-1")
    assert one is not two and one.events is not two.events  # hooks on one session stay there
    loader = one._session.get_component("data_loader")
    assert loader is two._session.get_component("data_loader")
    assert len(loader.search_paths) == len(set(loader.search_paths))


def test_each_file_is_one_unit_of_work_but_the_harness_scenarios_are_one_each():
    assert conftest.split_scope("tests/unit/test_plan.py::test_a[x]") == "tests/unit/test_plan.py"
    scenario = "tests/integration/test_exactly_once.py::test_every_fault[ping]"
    assert conftest.split_scope(scenario) == scenario


def test_the_heaviest_unit_goes_out_first_and_equals_in_collection_order():
    queue = conftest._HeaviestFirst()
    queue["tests/unit/test_a.py"] = {"tests/unit/test_a.py::t": False}
    queue["tests/unit/test_b.py"] = {f"tests/unit/test_b.py::t{i}": False for i in range(3)}
    queue["tests/browser/test_web_slack.py"] = {"tests/browser/test_web_slack.py::t": False}
    queue["tests/unit/test_c.py"] = {f"tests/unit/test_c.py::t{i}": False for i in range(3)}
    order = [queue.popitem(last=False)[0] for _ in range(len(queue))]
    assert order == [
        "tests/browser/test_web_slack.py",
        "tests/unit/test_b.py",
        "tests/unit/test_c.py",
        "tests/unit/test_a.py",
    ]
