"""Issue 7, items 1 and 3: the ack's cold path in a fresh process, the first request after init, and
`python -X importtime` of the ack handler.

Each repetition starts a new Python process per variant (in shuffled order, so drift hits all alike):
interpreter start, import of the handler module (which builds itself from the environment), and the
first signed request answered, its network call going to moto server on loopback. Then, in the
same process, warm requests: "first minus warm" shows what init left for the first request.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from bench.common import (
    BOT_TOKEN,
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
LAZY_FUNCTION = "bench-bolt-lazy"
#: "A tiny work amount" for the seed's listener in the cold test.
SEED_COLD_WORK_S = 0.01
#: Packages the Lambda Python runtime provides (infra/aws/bundling.RUNTIME_PROVIDED and their deps):
#: assumed to come with bytecode there. Everything else in the bundle is pip-installed with --no-compile.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"})


@dataclass
class Variant:
    key: str
    label: str
    args: list[str]
    env: dict[str, str]
    warm_requests: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: The interpreter of its processes (None: the one running the benchmark).
    interpreter: str | None = None

    def metric(self, name: str) -> list[float]:
        return [run[name] for run in self.runs]


def _post_json(url: str, payload: Any) -> None:
    from infra.devstack._http import urlopen

    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urlopen(request, timeout=10) as response:
        response.read()


def lazy_lambda_function(endpoint_url: str) -> str:
    """A function in moto for Bolt's lazy runner to invoke (moto's simple Lambda: no Docker, answers 202)."""
    from infra.devstack.aws import aws_client

    _post_json(f"{endpoint_url}/moto-api/config", {"lambda": {"use_docker": False}})
    iam = aws_client("iam", endpoint_url)
    role = iam.create_role(RoleName="bench-lazy-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    created = aws_client("lambda", endpoint_url).create_function(
        FunctionName=LAZY_FUNCTION,
        Runtime="python3.11",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )
    return str(created["FunctionArn"])


def imported_top_level(
    env: dict[str, str], module: str, interpreter: str | None = None, cwd: Path = ROOT
) -> dict[str, str]:
    """Top-level packages a fresh process loads from site-packages when importing `module`, with their paths (`-c`
    puts `cwd` first on the path)."""
    code = (
        "import importlib, json, sys, sysconfig;"
        f"importlib.import_module({module!r});"
        "site = sysconfig.get_paths()['purelib'];"
        "out = {};"
        "[out.setdefault(n.split('.')[0], getattr(m, '__file__', None)) for n, m in list(sys.modules.items())"
        " if '.' not in n and getattr(m, '__file__', None) and m.__file__.startswith(site)];"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [interpreter or python(), "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {result.stderr.strip()[-1500:]}")
    parsed: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def mirror_without_bytecode(packages: dict[str, str], destination: Path) -> list[str]:
    """Symlink the packages' files (not their __pycache__) under `destination`: Python then finds no .pyc
    next to the sources and compiles every module at import, as on Lambda with a --no-compile bundle."""
    mirrored = []
    destination.mkdir(parents=True, exist_ok=True)
    # Names starting with "_" are the interpreter's own start-up (.pth hooks), loaded by every variant alike.
    sources = {
        name: Path(path) for name, path in packages.items() if name not in RUNTIME_PROVIDED and not name.startswith("_")
    }
    sources.update({name: ROOT / name / "__init__.py" for name in ("ack_function", "shared")})
    for name, file in sorted(sources.items()):
        mirrored.append(name)
        if file.name == "__init__.py":
            src_dir = file.parent
            for path in src_dir.rglob("*"):
                rel = path.relative_to(src_dir)
                if "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo") or path.is_dir():
                    continue
                target = destination / name / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(path)
        else:
            (destination / file.name).symlink_to(file)
    return mirrored


def importtime_profile(
    env: dict[str, str], module: str, runs: int = 3, interpreter: str | None = None, cwd: Path = ROOT
) -> list[dict[str, Any]]:
    """`python -X importtime -c "import <module>"`: per module, the median self and cumulative ms over runs."""
    per_module: dict[str, dict[str, list[float]]] = {}
    order: dict[str, int] = {}
    for _ in range(runs):
        result = subprocess.run(
            [interpreter or python(), "-X", "importtime", "-c", f"import {module}"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            head, cumulative_us, name = line.split("|", 2)
            self_us = head.split(":", 1)[1]
            depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
            key = name.strip()
            entry = per_module.setdefault(key, {"self": [], "cumulative": []})
            entry["self"].append(int(self_us) / 1000)
            entry["cumulative"].append(int(cumulative_us) / 1000)
            order.setdefault(key, depth)
    return [
        {"module": name, "depth": order[name], "self_ms": median(v["self"]), "cumulative_ms": median(v["cumulative"])}
        for name, v in per_module.items()
    ]


#: Imported one after another in a fresh process, each step timed: the marginal cost of each layer of the ack.
STEPS = (
    ("Bolt `App`", "from slack_bolt import App"),
    ("pydantic", "import pydantic"),
    (
        "opsbot's models (shared.commands, jobs, blockkit, messages, settings, inventory, policy)",
        "import shared.commands, shared.jobs, shared.blockkit, shared.messages, shared.settings, shared.inventory, "
        "shared.policy",
    ),
    ("Powertools Logger and Metrics", "from aws_lambda_powertools import Logger, Metrics"),
    (
        "the ack's adapter and SQS client (ack_function.adapter, shared.aws_json)",
        "import ack_function.adapter, shared.aws_json",
    ),
    ("the rest of ack_function.handler, init included", "import ack_function.handler"),
    ("not loaded by the ack: Bolt's Lambda adapter (imports boto3)", "import slack_bolt.adapter.aws_lambda"),
    (
        "not loaded by the ack: a boto3 Session and its SQS client",
        "import boto3; _s = boto3.session.Session(); _s.client('sqs')",
    ),
)


def layer_costs(env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    """Median marginal ms of each of STEPS over `runs` fresh processes."""
    lines = ["import json, time", "_t = [time.perf_counter()]", "_out = []"]
    for label, code in STEPS:  # a step that fails (a module renamed) is left out, the others still count
        lines += [
            "try:",
            f"    {code}",
            "    _ok = True",
            "except Exception:",
            "    _ok = False",
            "_t.append(time.perf_counter())",
            f"_ok and _out.append(({label!r}, (_t[-1] - _t[-2]) * 1000))",
        ]
    lines.append("print(json.dumps(_out))")
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [python(), "-c", "\n".join(lines)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for label, ms in json.loads(result.stdout.strip().splitlines()[-1]):
            samples.setdefault(label, []).append(ms)
    return [(label, median(values)) for label, values in samples.items()]


def _spawn(
    variant: Variant,
    events: list[dict[str, Any]],
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    path = workdir / f"events-{variant.key}.json"
    path.write_text(json.dumps(events))
    started = time.monotonic_ns()
    result = subprocess.run(
        [variant.interpreter or python(), str(PROBE), *variant.args, str(path)],
        env={**variant.env, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{variant.key} probe failed ({result.returncode}): {result.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(lines[-1])
    if out["status"] != 200:
        raise RuntimeError(f"{variant.key} answered {out['status']}: {out['body']}")
    ms = 1e-6
    out["interpreter_ms"] = (out["t_main"] - started) * ms
    out["init_ms"] = (out["t_imported"] - out["t_main"]) * ms
    out["first_ms"] = (out["t_answered"] - out["t_first"]) * ms
    out["cold_ms"] = out["interpreter_ms"] + out["init_ms"] + out["first_ms"]
    out["warm_p50_ms"] = median(out["warm_ms"]) if out["warm_ms"] else float("nan")
    out["first_minus_warm_ms"] = out["first_ms"] - out["warm_p50_ms"]
    return out


def _events(n: int) -> list[dict[str, Any]]:
    return [signed_event(slash_command()) for _ in range(n)]


def _run_rounds(
    variants: list[Variant],
    reps: int,
    workdir: Path,
    progress: str,
    before: Callable[[], dict[str, str]] = dict,
) -> None:
    """`before` runs ahead of every process and may add to its environment (a fresh, empty jobs queue:
    moto's SQS slows down as a queue grows, and PurgeQueue is allowed once a minute)."""
    rng = random.Random(7)
    for variant in variants:  # one discarded run each: bytecode caches written, page cache warm
        _spawn(variant, _events(1 + variant.warm_requests), workdir, before())
    for rep in range(reps):
        order = variants[:]
        rng.shuffle(order)
        for variant in order:
            variant.runs.append(_spawn(variant, _events(1 + variant.warm_requests), workdir, before()))
        if rep % 5 == 4 or rep == reps - 1:
            log(f"{progress}: {rep + 1}/{reps} rounds")


def run(quick: bool) -> list[Section]:
    from infra.devstack.aws import MotoServer, aws_client, provision_queues
    from infra.devstack.slack_api import SlackApiServer

    reps = 8 if quick else 30
    first_reps = 6 if quick else 20
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="opsbot-bench-cold-"))
    try:
        # Not strict: the seed's say() posts in a channel of no local workspace, once per process, faster than Slack's
        # one message a second per channel; this section measures cold starts, not Slack's rules (bench/answer.py
        # posts the seed's answers within them).
        with MotoServer() as moto, SlackApiServer(token=BOT_TOKEN, strict=False) as slack:
            sqs = aws_client("sqs", moto.endpoint_url)
            queue_url = provision_queues(sqs, name="bench-cold-jobs").queue_url

            fresh: list[str] = []

            def empty_queue() -> dict[str, str]:
                while fresh:
                    sqs.delete_queue(QueueUrl=fresh.pop())
                fresh.append(sqs.create_queue(QueueName=f"bench-cold-{len(fresh)}-{time.monotonic_ns()}")["QueueUrl"])
                return {"JOBS_QUEUE_URL": fresh[-1]}

            function_arn = lazy_lambda_function(moto.endpoint_url)
            base = lambda_like_environment(
                {
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "JOBS_QUEUE_URL": queue_url,
                    "AWS_ENDPOINT_URL": moto.endpoint_url,
                    "BENCH_FUNCTION_ARN": function_arn,
                }
            )
            with_token = {**base, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}

            mirror = workdir / "no-pyc"
            mirrored = mirror_without_bytecode(imported_top_level(base, "ack_function.handler"), mirror)
            no_pyc = {**base, "PYTHONPATH": str(mirror), "PYTHONDONTWRITEBYTECODE": "1"}

            variants = [
                Variant("opsbot", "opsbot ack", ["module", "ack_function.handler"], base, 20),
                Variant("bolt_lazy", "Bolt lazy (best case)", ["module", "bench.baselines.bolt_lazy_lambda"], base, 20),
                Variant(
                    "bolt_lazy_documented",
                    "Bolt lazy (as documented)",
                    ["module", "bench.baselines.bolt_lazy_documented_lambda"],
                    with_token,
                    10,
                ),
                Variant(
                    "seed",
                    "seed (sync, 10 ms work)",
                    ["module", "bench.baselines.seed_sync_lambda"],
                    {**with_token, "SEED_WORK_SECONDS": str(SEED_COLD_WORK_S)},
                    5,
                ),
                Variant("opsbot_nopyc", "opsbot ack, no .pyc", ["module", "ack_function.handler"], no_pyc, 5),
                Variant(
                    "opsbot_policy",
                    "opsbot ack with a policy (inventory.example.toml)",
                    ["module", "ack_function.handler"],
                    {**base, "OPSBOT_INVENTORY": str(ROOT / "inventory.example.toml")},
                    5,
                ),
                Variant(
                    "opsbot_before_adapter",
                    "opsbot ack with Bolt's Lambda adapter",
                    ["module", "bench.baselines.opsbot_before_lambda"],
                    {**base, "BENCH_BEFORE": "adapter"},
                    5,
                ),
                Variant(
                    "opsbot_before",
                    "opsbot ack with Bolt's adapter + boto3 SQS",
                    ["module", "bench.baselines.opsbot_before_lambda"],
                    {**base, "BENCH_BEFORE": "adapter+boto3"},
                    5,
                ),
            ]
            _run_rounds(variants, reps, workdir, "cold path", empty_queue)

            first_variants = [
                Variant("opsbot_inproc", "opsbot ack", ["inproc-opsbot"], base, 50),
                Variant("bolt_inproc", "Bolt lazy (best case)", ["inproc-bolt"], base, 50),
            ]
            _run_rounds(first_variants, first_reps, workdir, "first request")

            profile = importtime_profile(base, "ack_function.handler")
            layers = layer_costs({**base, "PYTHONPATH": str(ROOT)}, 3 if quick else 7)
            bolt_profile = importtime_profile(base, "bench.baselines.bolt_lazy_lambda", runs=1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    cold = _cold_section(variants, reps, mirrored)
    first = _first_section(variants, first_variants)
    imports = _import_section(profile, bolt_profile, layers)
    elapsed = time.monotonic() - started
    for section in (cold, first, imports):
        section.seconds = elapsed / 3
    return [cold, first, imports]


def _cold_section(variants: list[Variant], reps: int, mirrored: list[str]) -> Section:
    by_key = {v.key: v for v in variants}
    opsbot, bolt = by_key["opsbot"], by_key["bolt_lazy"]
    section = Section(
        key="cold",
        title="1. Ack cold path: fresh process to first answered request (ms)",
        headers=[
            "variant",
            "cold p50",
            "cold p99",
            "interpreter",
            "import + init",
            "first request",
            "modules",
            "peak RSS MB (VmHWM)",
            "p50 vs opsbot",
        ],
    )
    ops_p50 = summarize(opsbot.metric("cold_ms"))["p50"]
    for variant in variants:
        cold = summarize(variant.metric("cold_ms"))
        section.rows.append(
            [
                variant.label,
                fmt_ms(cold["p50"], 0),
                fmt_ms(cold["p99"], 0),
                fmt_ms(median(variant.metric("interpreter_ms")), 0),
                fmt_ms(median(variant.metric("init_ms")), 0),
                fmt_ms(median(variant.metric("first_ms")), 1),
                str(int(median(variant.metric("modules")))),
                f"{median(variant.metric('peak_rss_kb')) / 1024:.0f}",
                fmt_ratio(ratio(cold["p50"], ops_p50)),
            ]
        )
        section.samples[variant.label] = variant.metric("cold_ms")
        section.data[variant.key] = {
            "cold": cold,
            "interpreter": summarize(variant.metric("interpreter_ms")),
            "init": summarize(variant.metric("init_ms")),
            "first": summarize(variant.metric("first_ms")),
            "first_minus_warm": summarize(variant.metric("first_minus_warm_ms")),
        }
    o, b = summarize(opsbot.metric("cold_ms")), summarize(bolt.metric("cold_ms"))
    r50, r99 = ratio(o["p50"], b["p50"]), ratio(o["p99"], b["p99"])
    section.targets.append(
        Target(
            "Ack cold path vs Bolt lazy (best case)",
            "<= 0.75x",
            f"{fmt_ratio(r50)} p50 ({fmt_ms(o['p50'], 0)} vs {fmt_ms(b['p50'], 0)} ms), {fmt_ratio(r99)} p99",
            r50 <= 0.75,
        )
    )
    doc = summarize(by_key["bolt_lazy_documented"].metric("cold_ms"))
    section.data["ratios"] = {
        "opsbot_vs_bolt_lazy_p50": r50,
        "opsbot_vs_bolt_lazy_p99": r99,
        "opsbot_vs_bolt_lazy_documented_p50": ratio(o["p50"], doc["p50"]),
    }
    section.notes += [
        f"{reps} fresh processes per variant (+1 discarded), interleaved in random order; p99 of {reps} samples "
        "is close to the maximum. Cold = interpreter start + import/init + first request; the first request's "
        "network call goes to moto server (SQS SendMessage for opsbot, to an empty queue made for each process; "
        "Lambda Invoke for Bolt lazy) or, for "
        "the token variants, to the local Slack API (auth.test at init; the seed's say()).",
        "Bolt lazy (best case): Bolt's documented lazy listener with its adapter and boto3 Lambda client built "
        "once at init and no bot token (authorize without the Web API, as opsbot does). Bolt lazy (as "
        "documented): examples/aws_lambda/lazy_aws_lambda.py as written: a bot token (auth.test at import) and "
        "SlackRequestHandler per invocation, which creates boto3.client('lambda') inside every request.",
        f"opsbot ack, no .pyc: the same handler with {', '.join(mirrored)} imported from sources without "
        "bytecode, as from an asset built on a machine without a CPython 3.13 (infra/aws/bundling.py ships "
        "unchecked-hash .pyc compiled by one when it finds it); boto3 and botocore are precompiled in the Lambda "
        "runtime (inference).",
        "What the cold-start work bought, in this run: 'opsbot ack with Bolt's adapter + boto3 SQS' is the same "
        "app as it was before it (Bolt's Lambda adapter, which imports boto3 for lazy listeners, and a boto3 "
        "Session with its SQS client); 'with Bolt's Lambda adapter' keeps only the first (it still loads boto3, "
        "with the ack's own SQS client); 'opsbot ack' has neither (ack_function.adapter, shared.aws_json). "
        "'with a policy': the same ack reading, validating and applying the example inventory's [policy] "
        "(the other rows have none, like the Bolt baselines).",
        f"Python {sys.version.split()[0]} here; the Lambda runtime is 3.13 and its figures will differ.",
    ]
    return section


def _first_section(cold_variants: list[Variant], first_variants: list[Variant]) -> Section:
    section = Section(
        key="first_request",
        title="3. First request after init minus a warm request (ms)",
        headers=["variant", "clients", "first p50", "warm p50", "first - warm p50", "first - warm p90"],
    )
    rows: list[tuple[Variant, str]] = [
        (first_variants[0], "recording queue (no network)"),
        (first_variants[1], "recording Lambda client (no network)"),
    ]
    cold_by_key = {v.key: v for v in cold_variants}
    rows += [
        (cold_by_key["opsbot"], "real SQS client -> moto (network in both)"),
        (cold_by_key["bolt_lazy"], "real Lambda client -> moto (network in both)"),
    ]
    for variant, clients in rows:
        delta = summarize(variant.metric("first_minus_warm_ms"))
        section.rows.append(
            [
                variant.label,
                clients,
                fmt_ms(median(variant.metric("first_ms"))),
                fmt_ms(median(variant.metric("warm_p50_ms"))),
                fmt_ms(delta["p50"]),
                fmt_ms(delta["p90"]),
            ]
        )
        section.data[f"{variant.key}"] = {
            "first": summarize(variant.metric("first_ms")),
            "warm_p50": summarize(variant.metric("warm_p50_ms")),
            "first_minus_warm": delta,
        }
    ops = summarize(first_variants[0].metric("first_minus_warm_ms"))
    section.targets.append(
        Target(
            "First request after init vs warm (no network)",
            "<= 2 ms",
            f"+{fmt_ms(ops['p50'])} ms p50, +{fmt_ms(ops['p90'])} ms p90",
            ops["p50"] <= 2.0,
        )
    )
    section.notes += [
        f"Each row: {len(first_variants[0].runs)} fresh processes for the no-network rows (init = importing the "
        "Lambda module as on Lambda, then building the app on a recording client; then 1 first + 50 warm "
        "requests), and the cold-path processes of section 1 for the rows with real clients (1 first + 20 warm).",
        "With real clients the first request also pays botocore's first-call work (endpoint rules, credential "
        "resolution, request signer set-up) and the TCP connect: what a SnapStart restore would pay unless the "
        "client is primed before the snapshot.",
    ]
    return section


def _import_section(
    profile: list[dict[str, Any]], bolt_profile: list[dict[str, Any]], layers: list[tuple[str, float]]
) -> Section:
    section = Section(
        key="imports",
        title="1b. `python -X importtime` of ack_function.handler: top 10 by cumulative time (median of 3)",
        headers=["module", "depth", "cumulative ms", "self ms"],
    )
    top = sorted(profile, key=lambda e: e["cumulative_ms"], reverse=True)[:10]
    for entry in top:
        section.rows.append(
            [
                f"`{entry['module']}`",
                str(entry["depth"]),
                fmt_ms(entry["cumulative_ms"], 1),
                fmt_ms(entry["self_ms"], 1),
            ]
        )
    by_self = sorted(profile, key=lambda e: e["self_ms"], reverse=True)[:10]
    total = next((e["cumulative_ms"] for e in profile if e["module"] == "ack_function.handler"), float("nan"))
    bolt_total = next(
        (e["cumulative_ms"] for e in bolt_profile if e["module"] == "bench.baselines.bolt_lazy_lambda"), float("nan")
    )

    def total_of(name: str) -> float:
        return max((e["cumulative_ms"] for e in profile if e["module"] == name), default=0.0)

    families = {
        name: total_of(name)
        for name in (
            "boto3",
            "botocore.session",
            "slack_bolt",
            "slack_sdk",
            "pydantic",
            "aws_lambda_powertools.metrics",
            "aws_lambda_powertools.logging",
            "shared.commands",
            "shared.blockkit",
            "shared.messages",
            "shared.jobs",
        )
    }
    # What opsbot loads that the Bolt lazy baseline does not, by top-level package (sum of self times).
    bolt_modules = {e["module"] for e in bolt_profile}
    extra: dict[str, float] = {}
    for entry in profile:
        if entry["module"] not in bolt_modules:
            family = entry["module"].split(".")[0]
            extra[family] = extra.get(family, 0.0) + entry["self_ms"]
    extra_sorted = sorted(extra.items(), key=lambda kv: kv[1], reverse=True)
    section.data = {
        "opsbot_only_self_ms": dict(extra_sorted),
        "top_cumulative": top,
        "top_self": by_self,
        "total_ms": total,
        "bolt_lazy_total_ms": bolt_total,
        "families_ms": families,
        "modules": len(profile),
    }
    section.notes += [
        f"{len(profile)} modules, {fmt_ms(total, 0)} ms in total (Bolt lazy best case: {fmt_ms(bolt_total, 0)} ms). "
        "Depth 0 is imported by the handler itself; a module's cumulative time counts only the first import of "
        "each submodule, so an early importer is charged for what later ones share.",
        "Top self times: "
        + ", ".join(f"`{e['module']}` {fmt_ms(e['self_ms'], 1)}" for e in by_self[:6])
        + " (the handler's self time includes building the Bolt app and the SQS client at import).",
        "Loaded by opsbot but not by the Bolt lazy baseline (sum of self ms by package): "
        + ", ".join(f"`{name}` {fmt_ms(ms, 0)}" for name, ms in extra_sorted[:8])
        + ".",
        "Marginal cost of each layer, imported one after another in a fresh process (median ms, no importtime "
        "overhead): " + "; ".join(f"{label} {fmt_ms(ms, 0)}" for label, ms in layers) + ".",
    ]
    section.data["layers_ms"] = dict(layers)
    return section


Runner = Callable[[bool], list[Section]]
