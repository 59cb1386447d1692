"""Issue 15, part 1: the ack as the CDK stack deploys it, cold and restored from a SnapStart snapshot.

The environment is the stack's (infra/aws/functions.py, ingress.py): the signing secret read by ARN from
Secrets Manager (on moto server), PYDANTIC_DISABLE_PLUGINS, Powertools at INFO with metrics on (EMF lines to
the probe's stdout pipe as to Lambda's log pipe), no SLACK_SIGNING_SECRET. The code comes from an asset built
here the way infra/aws/bundling.py builds it, minus the aarch64 wheels (they would not run on this machine):
ack_function, shared and every third-party package the handler and the Bolt baseline load, copied from the
interpreter's site-packages without their bytecode, then compiled by that same interpreter into unchecked-hash
.pyc (bundling.compile_command); boto3/botocore and their deps stay in site-packages, as the Lambda runtime
provides them precompiled. Nothing is written at run time (PYTHONDONTWRITEBYTECODE: /var/task is read-only).

Three handlers, each on Python 3.11 and, where found, 3.13 (the Lambda runtime's): opsbot's ack, Bolt's
lazy-listener app reading its secret with boto3 (bench/baselines/bolt_lazy_deployed_lambda.py) and the stdlib
floor (bench/baselines/floor_lambda.py). Two ways to start:
- cold (no SnapStart): a fresh process to the first answered request;
- restore (SnapStart): init once with AWS_LAMBDA_INITIALIZATION_TYPE=snap-start in a parent (its RSS is the
  snapshot's size), then per restore a fork running the after-restore hooks and the first request.
All (python, handler, start) combinations run interleaved in random order, so a busy machine hits them alike.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from bench.common import (
    OUT_DIR,
    ROOT,
    SIGNING_SECRET,
    Section,
    Target,
    fmt_ms,
    fmt_ratio,
    lambda_like_environment,
    log,
    python,
    ratio,
    signed_event,
    slash_command,
    summarize,
)

PROBE = ROOT / "bench" / "cold_probe.py"
#: Where the stand-in for the runtime's `snapshot_restore_py` lives (the Lambda runtime provides the real one).
SNAPSTART_DIR = ROOT / "bench" / "snapstart"
#: Provided by the Lambda Python runtime with their bytecode: never copied into the asset.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"})
#: The distributions the ack and the Bolt baseline need in another interpreter's venv (pinned to this one's).
VENV_DISTRIBUTIONS = (
    "slack_bolt",
    "slack_sdk",
    "boto3",
    "botocore",
    "aws-lambda-powertools",
    "pydantic",
    "pydantic_core",
)
#: The stack's environment of the ack function (infra/aws/functions.py + ingress.py), besides the queue and secret.
DEPLOYED_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "opsbot-ack",
    "POWERTOOLS_METRICS_NAMESPACE": "opsbot",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

HANDLERS = (
    ("opsbot", "opsbot ack", "ack_function.handler"),
    ("bolt", "Bolt lazy (secret via boto3)", "bench.baselines.bolt_lazy_deployed_lambda"),
    ("floor", "floor (stdlib)", "bench.baselines.floor_lambda"),
)
#: opsbot with its AWS calls made by boto3 instead of shared.aws_json, cold and restored: key, label, BENCH_ACK_VARIANT.
ACK_VARIANTS = (
    ("opsbot-boto3-secret", "opsbot before: the secret by boto3 + Powertools (kept Session)", "boto3-secret"),
    ("opsbot-boto3-all", "opsbot with the secret and SendMessage by boto3 (nothing primed)", "boto3-all"),
)
#: Restores only: the ack as it was when unprimed (boto3-secret with nothing primed before the snapshot).
BEFORE_VARIANTS = (("opsbot-before", "opsbot when unprimed (the secret by boto3, nothing primed)", "before"),)
VARIANTS_MODULE = "bench.baselines.opsbot_boto3_lambda"
#: Cold only: opsbot's ack reading the inventory as TOML, as the assets shipped it before they carried JSON: key,
#: label, unused.
INVENTORY_VARIANTS = (("opsbot-toml-inventory", "opsbot, its inventory shipped as TOML (as before)", ""),)
#: Handlers that read the secret after a restore (the others keep the snapshot's).
READS_SECRET_AFTER_RESTORE = frozenset(
    {
        "opsbot",
        "floor",
        *(k for k, _, _ in ACK_VARIANTS),
        *(k for k, _, _ in BEFORE_VARIANTS),
        *(k for k, _, _ in INVENTORY_VARIANTS),
    }
)
#: The inventory every opsbot variant is deployed with: the stack always ships one (the example, here).
EXAMPLE_INVENTORY = ROOT / "inventory.example.toml"


# -- interpreters and assets --------------------------------------------------------------------------------


def find_python(version: str, environ: dict[str, str] | None = None) -> str | None:
    """A CPython `version` on this machine, where infra/aws/bundling.bytecode_python looks: OPSBOT_BYTECODE_PYTHON,
    `python<version>` on the PATH, a pyenv version. (Not imported from there: that module loads aws_cdk, whose
    jsii starts a Node process that would run beside every measurement.)"""
    env = dict(os.environ) if environ is None else environ
    candidates = [env.get("OPSBOT_BYTECODE_PYTHON") or "", shutil.which(f"python{version}", path=env.get("PATH")) or ""]
    pyenv_root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.split() == [version, "cpython"]:
            return candidate
    return None


def venv_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The ack's runtime dependencies from pyproject.toml, pinned to the versions installed here (and the two
    packages whose versions must move with them: botocore with boto3, pydantic_core with pydantic)."""
    from importlib.metadata import version

    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in declared}
    wanted = [d for d in VENV_DISTRIBUTIONS if d.replace("_", "-") in names or d in ("botocore", "pydantic_core")]
    return [f"{d}=={version(d)}" for d in wanted]


def ensure_venv(interpreter: str, version: str, out: Path = OUT_DIR) -> str:
    """bench/out/venv-<version>: a venv of `interpreter` with `venv_requirements()`, made or updated; its python."""
    venv = out / f"venv-{version}"
    bin_python = venv / "bin" / "python"
    requirements = venv_requirements()
    marker = venv / "bench-requirements.txt"
    if bin_python.exists() and marker.exists() and marker.read_text().split() == requirements:
        return str(bin_python)
    log(f"deployed: making {venv} ({' '.join(requirements)})")
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = [str(bin_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements]
    subprocess.run(pip, check=True, capture_output=True)
    marker.write_text("\n".join(requirements) + "\n")
    return str(bin_python)


def compile_command(interpreter: str, directory: str) -> list[str]:
    """Unchecked-hash .pyc named as Lambda sees the sources: the flags of infra/aws/bundling.compile_command."""
    mode = ["--invalidation-mode", "unchecked-hash"]
    return [interpreter, "-m", "compileall", "-q", "-j", "0", *mode, "-d", "/var/task", directory]


def _ignore_bytecode(_directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}


def build_asset(
    interpreter: str,
    packages: dict[str, str],
    destination: Path,
    *,
    first_party: tuple[str, ...] = ("ack_function", "shared"),
    source_root: Path = ROOT,
) -> list[str]:
    """The asset: `first_party` (from `source_root`) and `packages` (top-level name -> its file) but the runtime's,
    copied without bytecode, then compiled by `interpreter`. The names copied."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    sources = {n: Path(f) for n, f in packages.items() if n not in RUNTIME_PROVIDED and not n.startswith("_")}
    sources = {n: f for n, f in sources.items() if n not in first_party}
    sources.update({name: source_root / name / "__init__.py" for name in first_party})
    for name, file in sorted(sources.items()):
        if file.name == "__init__.py":
            shutil.copytree(file.parent, destination / name, ignore=_ignore_bytecode)
        else:
            shutil.copy2(file, destination / file.name)
    subprocess.run(compile_command(interpreter, str(destination)), check=True, capture_output=True)
    if "shared" in first_party:
        write_indexes(interpreter, destination, source_root)
    return sorted(sources)


#: Run by the asset's interpreter with `source_root` on its path: the indexes infra/aws/bundling.function_code puts
#: at an asset's root, written by that tree's own code (a tree that has no such index writes none).
WRITE_INDEXES = """
import sys
from pathlib import Path
asset = Path(sys.argv[1])
try:
    from shared.plugins import INDEX_FILE, discover, index_json
except ImportError:
    pass
else:
    (asset / INDEX_FILE).write_bytes(index_json(discover()))
try:
    from shared.commands.registry import INDEX_FILE, index_json
except ImportError:
    pass
else:
    (asset / INDEX_FILE).write_bytes(index_json())
"""


def write_indexes(interpreter: str, destination: Path, source_root: Path = ROOT) -> list[str]:
    """The plugin index (`opsbot_plugins.json`) and the command index (`opsbot_commands.json`) the CDK asset
    carries, so a cold start here reads them as on Lambda instead of scanning entry points and listing packages.
    The names written."""
    before = set(os.listdir(destination))
    env = {**os.environ, "PYTHONPATH": str(source_root), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([interpreter, "-c", WRITE_INDEXES, str(destination)], env=env, check=True, capture_output=True)
    return sorted(set(os.listdir(destination)) - before)


#: opsbot's after-restore hook, step by step, in a snapshot-mode process (no fork: the same work); then, in the same
#: process and for comparison only, what the secret's read costs through boto3 (the ack when unprimed): a new
#: Session and client, a client from a kept Session, the read through Powertools, vs shared.aws_json. One JSON line.
HOOK_SPLIT = """
import json, os, time
import ack_function.handler as handler
ack = handler._function
t = [time.perf_counter()]
ack.connect(); t.append(time.perf_counter())
ack.warm(); t.append(time.perf_counter())
ack.load_signing_secret(); t.append(time.perf_counter())
from bench.baselines.boto3_secret import PowertoolsSecrets, secrets_client, secrets_session
from shared.aws_json import SecretsManagerClient
from shared.secrets import read_slack_secrets
s = ack.settings
t.append(time.perf_counter())
import boto3, botocore.client, aws_lambda_powertools.utilities.parameters
t.append(time.perf_counter())
session = secrets_session()
secrets_client(s.aws_region, endpoint_url=s.aws_endpoint_url, session=session)
t.append(time.perf_counter())
secrets_client(s.aws_region, endpoint_url=s.aws_endpoint_url, session=session)
t.append(time.perf_counter())
# The secret read alone as a restore does it (a new client, its first call: one round trip to moto each)
read_slack_secrets(s.secret_arn, client=PowertoolsSecrets(session, s.aws_region, endpoint_url=s.aws_endpoint_url))
t.append(time.perf_counter())
own = SecretsManagerClient(s.aws_region, endpoint_url=s.aws_endpoint_url, connect_timeout=1, read_timeout=2)
read_slack_secrets(s.secret_arn, client=own)
t.append(time.perf_counter())
ms = [(b - a) * 1000 for a, b in zip(t, t[1:])]
print(json.dumps({"connect": ms[0], "warm": ms[1], "load_signing_secret": ms[2], "boto3_import": ms[4],
                  "new_session_and_client": ms[5], "client_from_init_session": ms[6], "secret_read_boto3": ms[7],
                  "secret_read_aws_json": ms[8]}))
"""

#: SendMessage by shared.aws_json vs by a boto3 SQS client, in an on-demand process after its init: what the boto3
#: Session and client add to a cold init (the SDK's import not counted), its first call, and a warm call each (moto
#: on loopback).
SQS_SPLIT = """
import json, os, statistics, time
import ack_function.handler as handler
import boto3
from shared.queue import sqs_client
ack = handler._function
s = ack.settings
def send(client):
    started = time.perf_counter()
    client.send_message(QueueUrl=s.jobs_queue_url, MessageBody="{}")
    return (time.perf_counter() - started) * 1000
started = time.perf_counter()
boto = sqs_client(s.aws_region, endpoint_url=s.aws_endpoint_url, connect_timeout=s.enqueue_connect_timeout_s,
                  read_timeout=s.enqueue_read_timeout_s, session=boto3.session.Session())
client_ms = (time.perf_counter() - started) * 1000
boto_first = send(boto)
own_first = send(ack._sqs)
boto_warm, own_warm = [], []
for _ in range(30):
    boto_warm.append(send(boto))
    own_warm.append(send(ack._sqs))
print(json.dumps({"boto3_client_at_init": client_ms, "boto3_first_send": boto_first, "aws_json_first_send": own_first,
                  "boto3_warm_send": statistics.median(boto_warm), "aws_json_warm_send": statistics.median(own_warm)}))
"""


def hook_split(
    interpreter: str, env: dict[str, str], cwd: Path, runs: int, script: str = HOOK_SPLIT
) -> dict[str, float]:
    """Median ms of each figure `script` (HOOK_SPLIT: each step of opsbot's after-restore hook) prints, over `runs`
    processes."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [interpreter, "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=True
        )
        for name, value in json.loads(result.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(name, []).append(value)
    return {name: median(values) for name, values in samples.items()}


# -- the runs -----------------------------------------------------------------------------------------------


@dataclass
class Combo:
    """One (interpreter, handler, start) combination and its processes' reports."""

    py: str
    interpreter: str
    key: str
    label: str
    module: str
    start: str  # "cold" or "restore"
    env: dict[str, str]
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.key}-{self.start}-{self.py}"


def _spawn(combo: Combo, events: list[dict[str, Any]], workdir: Path, extra: dict[str, str], forks: int) -> dict:
    path = workdir / f"events-{combo.name}.json"
    path.write_text(json.dumps(events))
    args = ["module", combo.module] if combo.start == "cold" else ["restore", combo.module, str(forks)]
    started = time.monotonic_ns()
    result = subprocess.run(
        [combo.interpreter, str(PROBE), *args, str(path)],
        env={**combo.env, **extra},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"t_main"')]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{combo.name} probe failed ({result.returncode}): {result.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(lines[-1])
    if out["status"] != 200:
        raise RuntimeError(f"{combo.name} answered {out['status']}: {out['body']}")
    return measures(out, started)


def measures(out: dict[str, Any], started_ns: int) -> dict[str, Any]:
    """The figures (ms) of one probe report: cold processes get interpreter/init/first/cold; restore processes
    get, per restore, the hook, the first request, restore -> first answer, and its excess over a warm request."""
    ms = 1e-6
    out["interpreter_ms"] = (out["t_main"] - started_ns) * ms
    out["init_ms"] = (out["t_imported"] - out["t_main"]) * ms
    if "restores" not in out:
        out["first_ms"] = (out["t_answered"] - out["t_first"]) * ms
        out["cold_ms"] = out["interpreter_ms"] + out["init_ms"] + out["first_ms"]
        out["warm_p50_ms"] = median(out["warm_ms"]) if out["warm_ms"] else float("nan")
        return out
    for restore in out["restores"]:
        restore["hook_ms"] = (restore["t_restored"] - restore["t_fork"]) * ms
        restore["first_ms"] = (restore["t_answered"] - restore["t_first"]) * ms
        restore["restore_ms"] = (restore["t_answered"] - restore["t_fork"]) * ms
        restore["warm_p50_ms"] = median(restore["warm_ms"]) if restore["warm_ms"] else float("nan")
        restore["excess_ms"] = restore["restore_ms"] - restore["warm_p50_ms"]
        restore["excess_no_network_ms"] = restore["excess_ms"] - (restore.get("secret_rtt_ms") or 0.0)
    return out


def _restores(combo: Combo, name: str) -> list[float]:
    return [r[name] for run in combo.runs for r in run["restores"]]


def _metric(combo: Combo, name: str) -> list[float]:
    return [run[name] for run in combo.runs]


def run(quick: bool) -> list[Section]:
    from bench.cold import imported_top_level, importtime_profile, lazy_lambda_function
    from infra.devstack.aws import MotoServer, aws_client, provision_queues
    from shared.inventory import inventory_json

    reps, restore_reps, forks, warm = (4, 2, 4, 10) if quick else (15, 6, 8, 20)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="opsbot-bench-deployed-"))
    pythons: list[tuple[str, str]] = [(f"{sys.version_info[0]}.{sys.version_info[1]}", python())]
    py313 = find_python("3.13")
    missing = []
    if py313 is None:
        missing.append("no CPython 3.13 found (OPSBOT_BYTECODE_PYTHON, python3.13 on the PATH, pyenv)")
    elif sys.version_info[:2] != (3, 13):
        try:
            pythons.append(("3.13", ensure_venv(py313, "3.13")))
        except subprocess.CalledProcessError as exc:  # pip could not install: measure 3.11 alone, and say so
            missing.append(f"no Python 3.13 rows: making bench/out/venv-3.13 failed: {exc.stderr!r:.300}")
    try:
        with MotoServer() as moto:
            sqs = aws_client("sqs", moto.endpoint_url)
            queue_url = provision_queues(sqs, name="bench-deployed-jobs").queue_url
            secret_arn = aws_client("secretsmanager", moto.endpoint_url).create_secret(
                Name="opsbot/bench-slack",
                SecretString=json.dumps({"signing_secret": SIGNING_SECRET, "bot_token": "xoxb-bench"}),
            )["ARN"]
            fresh: list[str] = []

            def empty_queue() -> dict[str, str]:
                while fresh:
                    sqs.delete_queue(QueueUrl=fresh.pop())
                fresh.append(sqs.create_queue(QueueName=f"bench-dep-{time.monotonic_ns()}")["QueueUrl"])
                return {"JOBS_QUEUE_URL": fresh[-1]}

            base = lambda_like_environment(
                {
                    **DEPLOYED_ENVIRONMENT,
                    "OPSBOT_SECRET_ARN": secret_arn,
                    "JOBS_QUEUE_URL": queue_url,
                    "AWS_ENDPOINT_URL": moto.endpoint_url,
                    "BENCH_FUNCTION_ARN": lazy_lambda_function(moto.endpoint_url),
                    "AWS_LAMBDA_FUNCTION_NAME": "bench-ack",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                    "PYTHONDONTWRITEBYTECODE": "1",
                    "BENCH_SECRET_RTT": "1",
                }
            )
            base.pop("POWERTOOLS_METRICS_DISABLED", None)  # metrics on, as deployed
            # The stack always ships an inventory (synth refuses to deploy without one), as JSON: the ack reads it at
            # init for the policy. Bolt lazy and the floor read no file of the kind.
            shipped = workdir / "inventory.json"
            shipped.write_bytes(inventory_json(EXAMPLE_INVENTORY.read_bytes()))
            base["OPSBOT_INVENTORY"] = str(shipped)
            combos: list[Combo] = []
            assets: dict[str, list[str]] = {}
            profiles: dict[str, dict[str, list[dict[str, Any]]]] = {}
            for py, interpreter in pythons:
                loaded = {}
                for _, _, module in HANDLERS[:2]:
                    loaded.update(imported_top_level({**base, "PYTHONPATH": str(ROOT)}, module, interpreter))
                asset = workdir / f"asset-{py}"
                assets[py] = build_asset(interpreter, loaded, asset)
                log(f"deployed: asset for Python {py} built ({len(assets[py])} packages, unchecked-hash .pyc)")
                path = f"{asset}{os.pathsep}{SNAPSTART_DIR}"
                for start in ("cold", "restore"):
                    init_type = "on-demand" if start == "cold" else "snap-start"
                    env = {**base, "PYTHONPATH": path, "AWS_LAMBDA_INITIALIZATION_TYPE": init_type}
                    combos += [Combo(py, interpreter, k, label, m, start, env) for k, label, m in HANDLERS]
                    toml = {**env, "OPSBOT_INVENTORY": str(EXAMPLE_INVENTORY)}
                    combos += [
                        Combo(py, interpreter, k, label, HANDLERS[0][2], start, toml)
                        for k, label, _ in INVENTORY_VARIANTS
                        if start == "cold"  # a restore reads no inventory: the snapshot's init did
                    ]
                    combos += [
                        Combo(py, interpreter, k, label, VARIANTS_MODULE, start, {**env, "BENCH_ACK_VARIANT": v})
                        for k, label, v in (*ACK_VARIANTS, *(BEFORE_VARIANTS if start == "restore" else ()))
                    ]
                profile_env = {
                    **base,
                    "PYTHONPATH": f"{path}{os.pathsep}{ROOT}",  # the repo last, for bench.baselines
                    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                }
                profiles[py] = {
                    key: importtime_profile(profile_env, module, runs=1, interpreter=interpreter, cwd=workdir)
                    for key, _, module in (*HANDLERS[:2], ("opsbot-boto3-secret", "", VARIANTS_MODULE))
                }

            def events(combo: Combo) -> list[dict[str, Any]]:
                n = (1 + warm) * (forks if combo.start == "restore" else 1)
                return [signed_event(slash_command()) for _ in range(n)]

            rng = random.Random(15)
            for combo in combos:  # one discarded process each: page cache warm
                _spawn(combo, events(combo), workdir, empty_queue(), forks)
            for rep in range(reps):
                order = [c for c in combos if c.start == "cold" or rep < restore_reps]
                rng.shuffle(order)
                for combo in order:
                    combo.runs.append(_spawn(combo, events(combo), workdir, empty_queue(), forks))
                log(f"deployed: {rep + 1}/{reps} rounds")
            splits: dict[str, dict[str, float]] = {}
            for c in combos:
                if c.key == "opsbot" and c.start in ("restore", "cold"):
                    script = HOOK_SPLIT if c.start == "restore" else SQS_SPLIT
                    try:
                        env = {**c.env, **empty_queue(), "PYTHONPATH": f"{c.env['PYTHONPATH']}{os.pathsep}{ROOT}"}
                        split = hook_split(c.interpreter, env, workdir, 3 if quick else 5, script)
                        splits.setdefault(c.py, {}).update(split)
                    except (subprocess.CalledProcessError, KeyError, ValueError) as exc:
                        # The splits read AckFunction's steps by name: a reshaped ack loses this note, not the run.
                        log(f"deployed: opsbot's {c.start} split failed on Python {c.py}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sections = [
        cold_section(combos, reps, assets, profiles, missing),
        restore_section(combos, restore_reps, forks, splits),
    ]
    for section in sections:
        section.seconds = (time.monotonic() - started) / 2
    return sections


# -- the tables ---------------------------------------------------------------------------------------------


def _by(combos: list[Combo], start: str) -> dict[tuple[str, str], Combo]:
    return {(c.py, c.key): c for c in combos if c.start == start and c.runs}


def paired_ratios(a: list[float], b: list[float]) -> list[float]:
    """Ratios of the i-th samples of two interleaved series (same round, same machine state)."""
    return [x / y for x, y in zip(a, b, strict=False) if y]


def package_self_ms(profile: list[dict[str, Any]]) -> dict[str, float]:
    """`-X importtime` self ms summed by top-level package, largest first."""
    out: dict[str, float] = {}
    for entry in profile:
        family = entry["module"].split(".")[0]
        out[family] = out.get(family, 0.0) + entry["self_ms"]
    return dict(sorted(out.items(), key=lambda kv: kv[1], reverse=True))


def extra_self_ms(profile: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> dict[str, float]:
    """Self ms by top-level package of the modules `profile` imports and `baseline` does not, largest first."""
    seen = {e["module"] for e in baseline}
    return package_self_ms([e for e in profile if e["module"] not in seen])


def _top(times: dict[str, float], n: int) -> str:
    return ", ".join(f"{name} {fmt_ms(ms, 0)}" for name, ms in list(times.items())[:n])


def cold_section(
    combos: list[Combo],
    reps: int,
    assets: dict[str, list[str]],
    profiles: dict[str, dict[str, list[dict[str, Any]]]],
    missing: list[str],
) -> Section:
    section = Section(
        key="deployed_cold",
        title="1d. As deployed, no SnapStart: fresh process to first answered request (ms)",
        headers=[
            "Python",
            "variant",
            "cold p50",
            "cold p99",
            "import + init",
            "first request",
            "first - warm p50",
            "peak RSS MB (VmHWM)",
            "opsbot / this (p50)",
            "opsbot / this, per round",
        ],
    )
    by = _by(combos, "cold")
    pys = sorted({py for py, _ in by}, reverse=True)
    for py in pys:
        ops = by[(py, "opsbot")]
        ops_cold = _metric(ops, "cold_ms")
        for key in [k for k, _, _ in (*HANDLERS, *INVENTORY_VARIANTS, *ACK_VARIANTS) if (py, k) in by]:
            combo = by[(py, key)]
            cold = summarize(_metric(combo, "cold_ms"))
            first_over_warm = [r["first_ms"] - r["warm_p50_ms"] for r in combo.runs]
            pairs = paired_ratios(ops_cold, _metric(combo, "cold_ms"))
            section.rows.append(
                [
                    py,
                    combo.label,
                    fmt_ms(cold["p50"], 0),
                    fmt_ms(cold["p99"], 0),
                    fmt_ms(median(_metric(combo, "init_ms")), 0),
                    fmt_ms(median(_metric(combo, "first_ms")), 1),
                    f"{median(first_over_warm):+.2f}",
                    f"{median(_metric(combo, 'peak_rss_kb')) / 1024:.0f}",
                    fmt_ratio(ratio(summarize(ops_cold)["p50"], cold["p50"])),
                    f"{min(pairs):.2f}-{max(pairs):.2f} (median {median(pairs):.2f})" if key != "opsbot" else "",
                ]
            )
            section.samples[f"{combo.label}, {py}, cold"] = _metric(combo, "cold_ms")
            section.data[f"{key}-{py}"] = {
                "cold": cold,
                "init": summarize(_metric(combo, "init_ms")),
                "first": summarize(_metric(combo, "first_ms")),
                "first_minus_warm": summarize(first_over_warm),
                "peak_rss_kb": summarize(_metric(combo, "peak_rss_kb")),
                "opsbot_over_this_per_round": pairs,
            }
    target_py = "3.13" if "3.13" in pys else pys[0]
    if pys:
        ops, bolt, floor = (by[(target_py, k)] for k in ("opsbot", "bolt", "floor"))
        o, b, f = (summarize(_metric(c, "cold_ms"))["p50"] for c in (ops, bolt, floor))
        rss = ratio(median(_metric(ops, "peak_rss_kb")), median(_metric(bolt, "peak_rss_kb")))
        ob, of = ratio(o, b), ratio(o, f)
        prof = profiles.get(target_py, {})
        extra = extra_self_ms(prof.get("opsbot", []), prof.get("bolt", []))
        own = package_self_ms(prof.get("opsbot", []))
        init_o, init_b = median(_metric(ops, "init_ms")), median(_metric(bolt, "init_ms"))
        modules = f"{median(_metric(ops, 'modules')):.0f} modules vs Bolt's {median(_metric(bolt, 'modules')):.0f}"
        why_bolt = (
            f"import + init {fmt_ms(init_o, 0)} vs {fmt_ms(init_b, 0)} ms; what opsbot loads that Bolt lazy does not "
            f"(-X importtime self ms): {_top(extra, 6)}; the handler module's own time is its init (the secret's "
            "read, the Bolt app)"
        )
        why_floor = f"opsbot's import + init by package (self ms): {_top(own, 6)}"
        section.targets += [
            Target(
                f"Non-SnapStart cold, deployed config, Python {target_py}: opsbot vs Bolt lazy",
                "<= 0.6x",
                f"{fmt_ratio(ob)} p50 ({fmt_ms(o, 0)} vs {fmt_ms(b, 0)} ms)",
                ob <= 0.6,
                why_bolt,
                goal_key="ack_cold" if target_py == "3.13" else "",
            ),
            Target(
                f"Non-SnapStart cold, deployed config, Python {target_py}: opsbot vs the floor",
                "<= 3.5x",
                f"{fmt_ratio(of)} p50 ({fmt_ms(o, 0)} vs {fmt_ms(f, 0)} ms)",
                of <= 3.5,
                why_floor,
            ),
            Target(
                f"Peak RSS (VmHWM), cold, Python {target_py}: opsbot vs Bolt lazy",
                "<= 0.8x",
                f"{rss:.3f}x ({median(_metric(ops, 'peak_rss_kb')) / 1024:.1f} vs "
                f"{median(_metric(bolt, 'peak_rss_kb')) / 1024:.1f} MB; floor "
                f"{median(_metric(floor, 'peak_rss_kb')) / 1024:.0f} MB)",
                rss <= 0.8,
                f"{modules}; opsbot loads, beyond what Bolt lazy loads: " + ", ".join(list(extra)[:5]),
            ),
        ]
        first_over_warm = median([r["first_ms"] - r["warm_p50_ms"] for r in ops.runs])
        section.targets.append(
            Target(
                f"First request after a cold init minus a warm request, Python {target_py}",
                "<= 2 ms p50",
                f"{first_over_warm:+.2f} ms p50",
                first_over_warm <= 2.0,
                "what the first request builds or loads that init did not (pydantic's lazily built validators, "
                "Bolt's first dispatch)",
            )
        )
        before = by.get((target_py, "opsbot-boto3-secret"))
        if before is not None:
            p50_before = summarize(_metric(before, "cold_ms"))["p50"]
            section.notes.append(
                f"What taking the AWS SDK off the ack bought, Python {target_py}, same run: cold p50 {fmt_ms(o, 0)} vs "
                f"{fmt_ms(p50_before, 0)} ms before ({fmt_ratio(ratio(p50_before, b))} Bolt lazy, "
                f"{fmt_ratio(ratio(p50_before, f))} the floor); peak RSS "
                f"{median(_metric(ops, 'peak_rss_kb')) / 1024:.0f} vs "
                f"{median(_metric(before, 'peak_rss_kb')) / 1024:.0f} MB; "
                f"{median(_metric(ops, 'modules')):.0f} vs {median(_metric(before, 'modules')):.0f} modules."
            )
        section.data["ratios"] = {"python": target_py, "opsbot_over_bolt_p50": ob, "opsbot_over_floor_p50": of}
    for py, by_key in profiles.items():
        ops_pkgs, bolt_pkgs = package_self_ms(by_key["opsbot"]), package_self_ms(by_key["bolt"])
        before_pkgs = package_self_ms(by_key.get("opsbot-boto3-secret", []))
        sdk = {
            name: sum(v for n, v in pkgs.items() if n in RUNTIME_PROVIDED)
            for name, pkgs in (("opsbot", ops_pkgs), ("before", before_pkgs))
        }
        section.notes.append(
            f"Where the time goes, Python {py} (`-X importtime` of the asset, self ms by package; the handler's "
            "own line includes its init: the secret read and the app): opsbot "
            + ", ".join(f"`{n}` {fmt_ms(v, 0)}" for n, v in list(ops_pkgs.items())[:8])
            + "; Bolt lazy "
            + ", ".join(f"`{n}` {fmt_ms(v, 0)}" for n, v in list(bolt_pkgs.items())[:6])
            + f". The AWS SDK ({', '.join(sorted(RUNTIME_PROVIDED))}): opsbot {fmt_ms(sdk['opsbot'], 0)} ms "
            + "(Powertools' user-agent hook imports the bare botocore package), opsbot before (the secret by boto3) "
            + f"{fmt_ms(sdk['before'], 0)} ms."
        )
        section.data[f"importtime_{py}"] = {"opsbot": ops_pkgs, "bolt": bolt_pkgs, "opsbot-boto3-secret": before_pkgs}
    section.notes[:0] = [
        f"{reps} fresh processes per row (+1 discarded), every (Python, handler, start) interleaved in random order "
        "with the restore runs of 1e; cold = interpreter start + import/init + first request. The first request's "
        "network call goes to moto server on loopback (SendMessage to an empty queue made for each process; Lambda "
        "Invoke for Bolt lazy); init reads the signing secret from Secrets Manager on moto (OPSBOT_SECRET_ARN).",
        "Environment as the CDK stack sets it: OPSBOT_SECRET_ARN (no SLACK_SIGNING_SECRET), OPSBOT_INVENTORY (the "
        "example inventory as the assets ship it, JSON; read at init for the policy), "
        "PYDANTIC_DISABLE_PLUGINS=__all__, Powertools INFO with metrics on (EMF to stdout), JOBS_QUEUE_URL. Asset: "
        + "; ".join(f"Python {py}: {', '.join(names)}" for py, names in assets.items())
        + " copied without bytecode and compiled to unchecked-hash .pyc by the same interpreter (the local "
        "equivalent of infra/aws/bundling.py, whose aarch64 wheels would not run here); boto3, botocore and their "
        "deps from site-packages, precompiled as in the Lambda runtime.",
        "'opsbot / this, per round': opsbot's cold time over this row's in the same round (interleaved pairs). "
        "Peak RSS is the process's own VmHWM (/proc/self/status).",
        *missing,
    ]
    return section


def restore_section(
    combos: list[Combo], reps: int, forks: int, splits: dict[str, dict[str, float]] | None = None
) -> Section:
    section = Section(
        key="deployed_restore",
        title="1e. As deployed, SnapStart restore emulated by fork: restore to first answer (ms)",
        headers=[
            "Python",
            "variant",
            "snapshot MB",
            "after-restore hooks p50",
            "first request p50",
            "restore -> first answer p50",
            "warm p50",
            "restore - warm p50",
            "same, secret read's network excluded",
            "peak RSS MB",
        ],
    )
    by = _by(combos, "restore")
    pys = sorted({py for py, _ in by}, reverse=True)
    keys = [k for k, _, _ in (*HANDLERS, *INVENTORY_VARIANTS, *ACK_VARIANTS, *BEFORE_VARIANTS)]
    for py in pys:
        for key in keys:
            if (py, key) not in by:
                continue
            combo = by[(py, key)]
            excess = summarize(_restores(combo, "excess_ms"))
            no_net = summarize(_restores(combo, "excess_no_network_ms"))
            section.rows.append(
                [
                    py,
                    combo.label,
                    f"{median(_metric(combo, 'snapshot_rss_kb')) / 1024:.0f}",
                    fmt_ms(median(_restores(combo, "hook_ms"))),
                    fmt_ms(median(_restores(combo, "first_ms"))),
                    fmt_ms(median(_restores(combo, "restore_ms"))),
                    fmt_ms(median(_restores(combo, "warm_p50_ms"))),
                    fmt_ms(excess["p50"]),
                    fmt_ms(no_net["p50"]) if key in READS_SECRET_AFTER_RESTORE else "(no secret read)",
                    f"{median(_restores(combo, 'peak_rss_kb')) / 1024:.0f}",
                ]
            )
            section.samples[f"{combo.label}, {py}, restore"] = _restores(combo, "restore_ms")
            section.data[f"{key}-{py}"] = {
                "restore": summarize(_restores(combo, "restore_ms")),
                "hook": summarize(_restores(combo, "hook_ms")),
                "first": summarize(_restores(combo, "first_ms")),
                "excess": excess,
                "excess_no_network": no_net,
                "secret_rtt": summarize([r.get("secret_rtt_ms") or 0.0 for run in combo.runs for r in run["restores"]]),
                "snapshot_rss_kb": summarize(_metric(combo, "snapshot_rss_kb")),
            }
    for py in pys:
        ops_x = median(_restores(by[(py, "opsbot")], "excess_no_network_ms"))
        for key, label, _ in (*INVENTORY_VARIANTS, *ACK_VARIANTS, *BEFORE_VARIANTS):
            if (py, key) in by:
                other = median(_restores(by[(py, key)], "excess_no_network_ms"))
                section.notes.append(
                    f"Python {py}: opsbot restore - warm (network excluded) p50 {fmt_ms(ops_x)} ms vs {fmt_ms(other)} "
                    f"ms for '{label}': {fmt_ms(other - ops_x)} ms {'bought' if other > ops_x else 'lost'} by "
                    "opsbot's choice, same run."
                )
                section.data[f"{key}-{py}"]["excess_no_network_minus_opsbot_p50"] = other - ops_x
    if pys:
        target_py = "3.13" if "3.13" in pys else pys[0]
        ops = by[(target_py, "opsbot")]
        no_net = summarize(_restores(ops, "excess_no_network_ms"))
        rtt = median([r["secret_rtt_ms"] for run in ops.runs for r in run["restores"]])
        split = (splits or {}).get(target_py)
        why = (
            f"the after-restore hook: connect() {fmt_ms(split['connect'])} ms (new SQS and Secrets Manager clients), "
            f"warm() {fmt_ms(split['warm'])} ms (credentials, the SQS connection), load_signing_secret() "
            f"{fmt_ms(split['load_signing_secret'])} ms (GetSecretValue by shared.aws_json, the Bolt app); the fork "
            "of the snapshot process"
            if split and "connect" in split
            else ""
        )
        section.targets.append(
            Target(
                f"SnapStart restore to first answer, network excluded, Python {target_py}",
                "<= 5 ms p50 over a warm request",
                f"+{fmt_ms(no_net['p50'])} ms p50 (+{fmt_ms(summarize(_restores(ops, 'excess_ms'))['p50'])} with the "
                f"secret read's {fmt_ms(rtt)} ms round trip to moto)"
                + "".join(
                    f"; {label}: +{fmt_ms(median(_restores(by[(target_py, key)], 'excess_no_network_ms')))}"
                    for key, label in (("opsbot-before", "before, same run"), ("floor", "the floor"))
                    if (target_py, key) in by
                ),
                no_net["p50"] <= 5.0,
                why,
                goal_key="ack_restore" if target_py == "3.13" else "",
            )
        )
    section.notes += [
        f"{reps} snapshot processes per row, {forks} restores each (one after another). A snapshot process runs the "
        "module's init with AWS_LAMBDA_INITIALIZATION_TYPE=snap-start, then the before-snapshot hooks; 'snapshot MB' "
        "is its VmRSS then. A restore is a fork of it: the after-restore hooks (bench/snapstart's stand-in for the "
        "runtime's snapshot_restore_py calls them, as Lambda does), then the first request, then warm ones; 'restore "
        "-> first answer' counts from just before the fork (the fork itself included: a few ms for a large parent, "
        "where Lambda's restore is its own, unmeasured here).",
        "opsbot's after-restore hook makes new SQS and Secrets Manager clients (shared.aws_json), resolves the "
        "credentials once for both, opens the SQS connection and reads the signing secret. 'opsbot before' reads it "
        "as the ack did when unprimed: a Secrets Manager client from the boto3 Session made at init (primed "
        "there without credentials) and Powertools parameters; 'opsbot with the secret and SendMessage by boto3' "
        "also sends through a botocore SQS client from that Session; 'opsbot when unprimed' is the first "
        "with nothing looked up before the snapshot, as the ack was (all: bench/baselines/opsbot_boto3_lambda.py, "
        "the ack's own init and hook with those steps changed). The floor reads its secret; Bolt's documented setup "
        "registers no hook (a restored copy keeps the snapshot's secret and clients, and its first request pays the "
        "lazy listener's first Lambda Invoke).",
        "'restore - warm': restore to first answer minus the same child's warm request (both include one "
        "SendMessage or Invoke to moto on loopback, which cancels). 'network excluded' subtracts, per restore, the "
        "median round trip of a GetSecretValue to the same moto on a kept-alive connection (loopback and moto's "
        "own time), measured in the same child after its requests.",
    ]
    for py, split in (splits or {}).items():
        if "connect" in split:
            section.notes.append(
                f"Where opsbot's restore goes, Python {py} (its after-restore hook step by step, median of processes "
                f"in snapshot mode): connect() {fmt_ms(split['connect'])} ms (new SQS and Secrets Manager clients), "
                f"warm() {fmt_ms(split['warm'])} ms, load_signing_secret() {fmt_ms(split['load_signing_secret'])} ms "
                f"(GetSecretValue and the Bolt app). For comparison in the same processes, with boto3: its import "
                f"{fmt_ms(split['boto3_import'])} ms (in a snapshot, paid at publish), "
                f"a new Session and its first client {fmt_ms(split['new_session_and_client'])} "
                f"ms, a second client from that Session {fmt_ms(split['client_from_init_session'])} ms. The secret "
                f"read alone as a restore does it (a new client and its first call, one round trip to moto): through "
                f"boto3 from the kept Session and Powertools {fmt_ms(split['secret_read_boto3'])} ms, through "
                f"shared.aws_json {fmt_ms(split['secret_read_aws_json'])} ms."
            )
        if "boto3_client_at_init" in split:
            section.notes.append(
                f"SendMessage, shared.aws_json vs a boto3 SQS client, Python {py} (an on-demand process after its "
                f"init, moto on loopback, median of processes): a boto3 Session and SQS client cost "
                f"{fmt_ms(split['boto3_client_at_init'])} ms to make (the SDK's import not counted); first call "
                f"{fmt_ms(split['boto3_first_send'])} vs "
                f"{fmt_ms(split['aws_json_first_send'])} ms; warm call {fmt_ms(split['boto3_warm_send'])} vs "
                f"{fmt_ms(split['aws_json_warm_send'])} ms (median of 30 each, interleaved)."
            )
        section.data[f"hook_split_{py}"] = split
    return section
