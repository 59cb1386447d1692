"""The benchmarks' own logic (statistics, the load plan, execution counting, the deployed configuration's
asset, SnapStart restores by fork, the floor, DynamoDB call counts): no timing is asserted here."""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import cold_probe, deployed
from bench.common import median_ci, percentile
from bench.load import plan
from bench.stackkit import ExecutionCounter
from bench.worker import DynamoDbCallCounter, dynamodb_calls, per_job
from tests.events import load_event, slash_body


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_linear_interpolation(q):
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 7.0]
    expected = statistics.quantiles(values, n=100, method="inclusive")[q - 1] if 0 < q < 100 else None
    if q == 0:
        expected = min(values)
    if q == 100:
        expected = max(values)
    assert percentile(values, q) == pytest.approx(expected)


def test_median_ci_brackets_the_median():
    values = list(range(1, 101))
    lo, hi = median_ci(values)
    assert lo < statistics.median(values) < hi
    assert lo > 35 and hi < 65


def test_load_plan_has_retries_of_earlier_requests_and_a_third_restarts():
    bursts = plan(1000, bursts=10, retry_share=0.10, restart_share=1 / 3, seed=3)
    sent = [(command, retry, index) for index, burst in enumerate(bursts) for command, retry in burst]
    originals = {c.trigger_id: i for c, retry, i in sent if retry == 0}
    retries = [(c, i) for c, retry, i in sent if retry > 0]

    assert len(sent) == 1000 and len(originals) == 900 and len(retries) == 100
    assert all(c.trigger_id in originals and i - originals[c.trigger_id] in (0, 1) for c, i in retries)
    restarts = sum(1 for c, retry, _ in sent if retry == 0 and c.command == "/ops-restart")
    assert restarts == 300
    assert {c.text for c, _, _ in sent if c.command == "/ops-restart"} == {"payment", "checkout"}
    assert len({c.user_id for c, _, _ in sent}) == 5


def _record(message: str, job_id: str, thread: int) -> logging.LogRecord:
    record = logging.LogRecord("worker_function.dispatch", logging.INFO, __file__, 1, message, None, None)
    record.job_id = job_id
    record.thread = thread
    return record


def test_a_refusal_logged_twice_in_one_run_is_one_execution_but_two_runs_are_two():
    counter = ExecutionCounter()
    counter.emit(_record("executed /ops-restart payment: failed permanently: payment is busy with job x", "a", 1))
    counter.emit(_record("executed /ops-restart payment (step 0) in 3 ms", "a", 1))
    counter.emit(_record("executed /ops-ping (step 0) in 1 ms", "b", 1))
    counter.emit(_record("executed /ops-ping (step 0) in 1 ms", "b", 2))
    counter.emit(_record("received /ops-ping step 0 (attempt 2)", "b", 2))

    by_job = counter.by_job()

    assert [e.busy for e in by_job["a"]] == [True]
    assert len(by_job["b"]) == 2
    assert counter.double_logged == {"a"} and counter.deliveries == [("b", 2)]


# -- issue 15: the deployed configuration, SnapStart restores, the floor, the worker's calls -----------------


def test_memory_kb_reads_the_peak_not_the_current_resident_set(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  300000 kB\nVmHWM:\t   43210 kB\nVmRSS:\t   40000 kB\n")

    assert cold_probe.memory_kb("VmHWM", str(status)) == 43210
    assert cold_probe.memory_kb("VmRSS", str(status)) == 40000
    assert cold_probe.memory_kb("VmSwap", str(status)) == 0
    assert cold_probe.memory_kb("VmHWM", str(tmp_path / "missing")) == 0


TINY_FUNCTION = """
import os, snapshot_restore_py
STATE = {"restored_in": None, "init_pid": os.getpid()}
def _after_restore():
    STATE["restored_in"] = os.getpid()
snapshot_restore_py.register_after_restore(_after_restore)
def lambda_handler(event, context):
    return {"statusCode": 200, "body": f"{STATE['init_pid']} {STATE['restored_in']} {os.getpid()}"}
"""


def test_restore_mode_inits_once_then_runs_the_hook_and_the_requests_in_each_forked_child(tmp_path):
    (tmp_path / "tiny_function.py").write_text(TINY_FUNCTION)
    (tmp_path / "events.json").write_text(json.dumps([{"n": i} for i in range(6)]))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{deployed.SNAPSTART_DIR}"}

    result = subprocess.run(
        [sys.executable, str(cold_probe.__file__), "restore", "tiny_function", "3", str(tmp_path / "events.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = deployed.measures(json.loads(result.stdout.strip().splitlines()[-1]), 0)

    assert len(out["restores"]) == 3 and out["snapshot_rss_kb"] > 0
    pids = set()
    for restore in out["restores"]:
        init_pid, restored_in, answered_in = restore["body"].split()
        assert restore["hooks"] == 1 and len(restore["warm_ms"]) == 1
        assert restored_in == answered_in != init_pid  # the hook ran in the child, after the parent's init
        pids.add(answered_in)
        assert restore["restore_ms"] >= restore["first_ms"] and restore["restore_ms"] >= restore["hook_ms"]
        assert restore["peak_rss_kb"] > 0
    assert len(pids) == 3


def test_the_snapstart_stand_in_runs_hooks_in_order_with_their_arguments():
    sys.path.insert(0, str(deployed.SNAPSTART_DIR))
    try:
        import snapshot_restore_py as hooks
    finally:
        sys.path.pop(0)
    calls = []
    hooks.register_before_snapshot(calls.append, "before")
    hooks.register_after_restore(calls.append, "after-1")
    hooks.register_after_restore(lambda **kw: calls.append(kw["x"]), x="after-2")

    assert hooks.run_before_snapshot() >= 1 and calls == ["before"]
    hooks.run_after_restore()
    assert calls[-2:] == ["after-1", "after-2"]


def test_the_asset_is_our_packages_and_the_third_party_ones_as_unchecked_hash_pyc_without_the_runtime_s(tmp_path):
    fake = tmp_path / "site" / "fakepkg"
    (fake / "__pycache__").mkdir(parents=True)
    (fake / "__init__.py").write_text("VALUE = 1\n")
    (fake / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"stale")
    (tmp_path / "site" / "single.py").write_text("X = 2\n")
    packages = {
        "fakepkg": str(fake / "__init__.py"),
        "single": str(tmp_path / "site" / "single.py"),
        "boto3": str(tmp_path / "site" / "boto3" / "__init__.py"),  # the runtime's: never copied
        "_virtualenv": str(tmp_path / "site" / "_virtualenv.py"),
    }

    names = deployed.build_asset(sys.executable, packages, tmp_path / "asset")

    assert names == ["ack_function", "fakepkg", "shared", "single"]
    asset = tmp_path / "asset"
    assert not (asset / "boto3").exists()
    pycs = list(asset.rglob("*.pyc"))
    assert {p.name for p in (asset / "fakepkg" / "__pycache__").iterdir()} == {
        f"__init__.{sys.implementation.cache_tag}.pyc"
    }
    assert any(p.parent.parent.name == "ack_function" for p in pycs)
    # PEP 552: flags 0b01 = hash-based, not checked against the source.
    assert {int.from_bytes(p.read_bytes()[4:8], "little") for p in pycs} == {1}
    # The indexes the CDK asset carries (infra/aws/bundling.function_code): a cold start lists and scans nothing.
    from shared.commands.registry import index_json as command_index_json
    from shared.plugins import discover, index_json

    assert (asset / "opsbot_commands.json").read_bytes() == command_index_json()
    assert (asset / "opsbot_plugins.json").read_bytes() == index_json(discover())


def test_the_asset_is_compiled_as_the_cdk_bundling_compiles_it():
    pytest.importorskip("aws_cdk")
    from infra.aws.bundling import compile_command

    assert deployed.compile_command("py", "/out") == compile_command("py", "/out")


def test_the_deployed_environment_is_the_one_the_stack_gives_the_ack():
    pytest.importorskip("aws_cdk")
    from infra.aws import functions

    assert deployed.DEPLOYED_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"] == functions.ACK_SERVICE
    assert deployed.DEPLOYED_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"] == functions.METRICS_NAMESPACE
    source = Path(functions.__file__).read_text()
    assert '"POWERTOOLS_LOG_LEVEL": "INFO"' in source and "**FUNCTION_ENVIRONMENT" in source


def test_the_other_interpreter_s_venv_gets_the_ack_s_dependencies_pinned_to_this_one_s():
    from importlib.metadata import version

    requirements = deployed.venv_requirements()

    assert f"pydantic=={version('pydantic')}" in requirements
    assert f"slack_bolt=={version('slack_bolt')}" in requirements
    assert f"botocore=={version('botocore')}" in requirements  # moves with boto3
    assert not any(r.startswith("python-jenkins") for r in requirements)  # the worker's only


def test_paired_ratios_and_package_times():
    assert deployed.paired_ratios([2.0, 3.0, 4.0], [1.0, 0.0, 2.0]) == [2.0, 2.0]
    profile = [
        {"module": "pydantic.main", "self_ms": 2.0},
        {"module": "pydantic", "self_ms": 1.0},
        {"module": "shared.jobs", "self_ms": 5.0},
    ]
    assert deployed.package_self_ms(profile) == {"shared": 5.0, "pydantic": 3.0}


class _Request:
    def __init__(self, target: str) -> None:
        self.headers = {"X-Amz-Target": target.encode()}


def test_dynamodb_calls_are_counted_per_job_and_split_into_writes_and_reads():
    counter = DynamoDbCallCounter()
    for target in ["DynamoDB_20120810.PutItem"] * 4 + ["DynamoDB_20120810.UpdateItem", "AmazonSQS.SendMessage"]:
        assert counter(_Request(target)) is None  # the call goes on
    before = dict(counter.calls)
    for target in ["DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem"] * 2:
        counter(_Request(target))

    assert counter.total() == 9
    assert per_job(before, dict(counter.calls), 2) == {"GetItem": 1.0, "PutItem": 1.0, "total": 2.0}
    assert dynamodb_calls(counter.calls) == {"writes": 7, "reads": 2}


class _AwsStandIn(BaseHTTPRequestHandler):
    """Answers GetSecretValue and SendMessage; keeps every request it was sent."""

    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        target = self.headers["X-Amz-Target"]
        self.received.append((target, dict(self.headers), body))
        if target == "secretsmanager.GetSecretValue":
            answer = {"SecretString": json.dumps({"signing_secret": "floor-secret"})}
        else:
            answer = {"MessageId": "m-1", "MD5OfMessageBody": "x"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def floor(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AwsStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _AwsStandIn.received = []
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "token",
        "OPSBOT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
        "JOBS_QUEUE_URL": "http://127.0.0.1/123456789012/jobs",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("bench.baselines.floor_lambda", None)
    import bench.baselines.floor_lambda as module

    yield module
    sys.modules.pop("bench.baselines.floor_lambda", None)
    server.shutdown()


def _botocore_signature(headers: dict[str, str], body: bytes, service: str) -> str:
    from datetime import datetime
    from unittest.mock import patch

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = {k: v for k, v in headers.items() if k.lower() in ("content-type", "x-amz-target")}
    request = AWSRequest(method="POST", url=f"http://{headers['host']}/", data=body, headers=signed)
    when = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], "token")
    with patch("botocore.auth.get_current_datetime", lambda *a, **k: when):
        SigV4Auth(creds, service, "us-east-1").add_auth(request)
    return str(request.headers["Authorization"]).rsplit("Signature=", 1)[1]


def test_the_floor_reads_its_secret_then_queues_a_signed_command_with_one_signed_send_message(floor):
    event = load_event("http_api_v2", slash_body("/ops-ping", "now"), "floor-secret")

    response = floor.lambda_handler(event, None)

    assert response["statusCode"] == 200
    [(t1, h1, b1), (t2, h2, b2)] = _AwsStandIn.received
    assert (t1, t2) == ("secretsmanager.GetSecretValue", "AmazonSQS.SendMessage")
    assert json.loads(json.loads(b2)["MessageBody"])["command"] == "/ops-ping"
    lower = [{k.lower(): v for k, v in h.items()} for h in (h1, h2)]
    assert lower[0]["authorization"].endswith(_botocore_signature(lower[0], b1, "secretsmanager"))
    assert lower[1]["authorization"].endswith(_botocore_signature(lower[1], b2, "sqs"))


def test_the_floor_refuses_a_bad_signature_and_queues_nothing(floor):
    event = load_event("http_api_v2", slash_body("/ops-ping"), "another-secret")

    assert floor.lambda_handler(event, None)["statusCode"] == 401
    assert [t for t, _, _ in _AwsStandIn.received] == ["secretsmanager.GetSecretValue"]


def test_the_goals_table_has_one_row_per_goal_in_order_and_names_a_goal_no_section_measured() -> None:
    from bench.common import ANSWER_GOALS, Target, goal_rows

    targets = [
        Target("x", "<= 0.8x", "0.70x", True, "unused", goal_key="answer_cold"),
        Target("y", "<= 5 ms", "+9 ms", False, "the fork", goal_key="ack_restore"),
        Target("an older issue's target", "<= 2x", "1x", True),
    ]
    rows = goal_rows(targets)
    assert [r[0] for r in rows] == [figure for figure, _ in ANSWER_GOALS.values()]
    by_figure = {r[0]: r for r in rows}
    assert by_figure[ANSWER_GOALS["answer_cold"][0]][2:] == ["0.70x", "met"]
    assert by_figure[ANSWER_GOALS["ack_restore"][0]][2:] == ["+9 ms", "NOT met: the fork"]
    assert by_figure[ANSWER_GOALS["burst"][0]][2:] == ["not measured in this run", "n/a"]


def test_the_time_to_answer_chart_is_drawn_again_from_a_runs_results_and_refuses_a_run_without_that_section(tmp_path):
    """`python -m bench.chart RESULTS_JSON OUT_PNG`: the answer section's raw samples make a PNG; a run without the
    section (an `--only` run) is told so on stderr with exit 1; no samples, no chart."""
    from bench.chart import draw_answer
    from bench.chart import main as chart_main

    samples = [
        {"system": system, "start": start, "command": command, "answer_ms": float(ms)}
        for system, start, ms in (("opsbot", "cold", 450), ("opsbot", "warm", 20), ("bolt", "cold", 500))
        for command in ("status", "lock")
    ]
    results = {
        "machine": {"date": "2026-12-06 21:46 UTC"},
        "commit": "abc1234",
        "sections": [{"key": "answer", "data": {"samples": samples}}],
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    out = tmp_path / "answer.png"
    assert chart_main([str(tmp_path / "results.json"), str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    (tmp_path / "only.json").write_text(json.dumps({**results, "sections": []}))
    assert chart_main([str(tmp_path / "only.json"), str(tmp_path / "none.png")]) == 1
    assert not (tmp_path / "none.png").exists()
    assert draw_answer([], tmp_path / "empty.png") is None
