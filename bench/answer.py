"""Time to answer: from the signed POST of a slash command to the requester's final message, on the local stack.

    python -m bench.answer [--quick]        # this section alone (a few minutes)
    python -m bench --only answer           # the same, inside the whole benchmark's output

What a person in Slack feels: the ack, the hop to the worker, the worker's start (cold, warm, or restored from a
SnapStart snapshot), its AWS calls (moto server) and the answer posted to the local Slack API. Three commands:
`/ops-status payment`, `/deploy-status payment` (read only) and `/ops-lock payment ...` / `/ops-unlock payment`
(a short mutating pair, alternately). Side by side, interleaved in random order within each round:

- opsbot: its ack, SQS (moto), the local event source (infra/devstack/poller.py: long polls; moto answers a waiting
  ReceiveMessage as soon as a message lands, as SQS does), the worker (a) cold: a fresh Python 3.13 process from the
  asset's local equivalent (bench/deployed.py's build_asset), (b) warm, (c) restored from a snapshot (fork);
- Bolt's lazy listeners doing the same calls in the lazy listener (bench/baselines/bolt_lazy_answer_lambda.py): its
  ack, then its self-invocation through the Lambda Invoke API played by the same invocation stand-in
  (bench/invoker.py), cold and warm;
- the seed's synchronous pattern (bench/baselines/seed_answer_lambda.py): the work inside the request, answered with
  chat.postMessage, cold and warm.

Every function runs as Lambda would run it here: bench/sandbox_probe.py processes of Python 3.13 on the same asset,
configured as deployed where it matters (the worker reads its bot token from Secrets Manager by ARN; Powertools at
INFO, metrics on). The acks are warm in every variant: only where the work runs changes.

Also measured here, each in the same run: the worker's cold init before and after this revision's changes (a fresh
process of each, interleaved; `-X importtime` by package; peak RSS), and a burst during an incident: 100 commands
from 20 people within 10 s through the event source with the deployed batch size, at several maximum concurrencies.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, ROOT, TEAM_ID, Section, Target, fmt_ms, fmt_ratio, log, ratio, summarize
from bench.invoker import Function, LambdaApi
from shared.settings import WORKER_BATCH_SIZE, WORKER_MAX_CONCURRENCY

SNAPSTART_DIR = ROOT / "bench" / "snapstart"
WORKER_MODULE = "worker_function.handler"
ACK_MODULE = "ack_function.handler"
BOLT_MODULE = "bench.baselines.bolt_lazy_answer_lambda"
SEED_MODULE = "bench.baselines.seed_answer_lambda"
#: What the worker's asset must hold besides the handler's own imports: the operations the benchmark runs.
WORKER_OPERATIONS = ("status", "deploy_status", "lock", "unlock")
COMMANDS = {
    "status": ("/ops-status", "payment"),
    "deploy-status": ("/deploy-status", "payment"),
    "lock": ("/ops-lock", "payment bench"),
    "unlock": ("/ops-unlock", "payment"),
}
#: The rows: which commands each kind measures (lock and unlock alternate, so each lock finds the target free).
KINDS = {"status": ("status",), "deploy-status": ("deploy-status",), "mutating": ("lock", "unlock")}
#: (system, start) pairs, all interleaved.
VARIANTS = (
    ("opsbot", "cold"),
    ("opsbot", "warm"),
    ("opsbot", "restore"),
    ("bolt", "cold"),
    ("bolt", "warm"),
    ("seed", "cold"),
    ("seed", "warm"),
)
LABELS = {
    "opsbot": "opsbot (ack, SQS, worker)",
    "bolt": "Bolt lazy listener",
    "seed": "seed (synchronous)",
}
#: Where the seed's say() posts: channels of the local workspace the bot is in (infra/devstack/demo.py). Slack
#: takes about one chat.postMessage a second per channel (the local Slack API too): the seed's requests go to
#: the channel whose last post is oldest, at least SEED_SPACING_S after it (waited before the POST, untimed).
SEED_CHANNELS = ("C0LOCALOPS", "C0INCIDENT")
SEED_SPACING_S = 1.2
#: The maximum concurrencies the burst tries (the deployed one included); SQS allows 2..1000.
BURST_CONCURRENCIES = (2, 5, 10)


@dataclass
class Sample:
    system: str
    start: str
    kind: str
    command: str
    answer_ms: float
    ack_ms: float
    #: The POST to the invocation that does the work (opsbot's worker, Bolt's lazy listener, the seed's function).
    to_work_ms: float = float("nan")
    #: opsbot: the queue hop, SendMessage to the worker invoked (the job's SentTimestamp to the invocation).
    hop_ms: float = float("nan")
    #: The function's invocation that did the work: its handler time, its init (cold) or restore hooks.
    work_ms: float = float("nan")
    init_ms: float = float("nan")
    restore_ms: float = float("nan")


@dataclass
class Rig:
    """The local stack and the functions of every variant."""

    stack: Any
    functions: dict[str, Function]
    ingresses: dict[str, Any]
    lambda_api: LambdaApi
    secret: str
    samples: list[Sample] = field(default_factory=list)
    #: When the seed last posted in each of its channels (time.monotonic()).
    seed_posts: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        for ingress in self.ingresses.values():
            ingress.stop()
        self.lambda_api.stop()
        for fn in self.functions.values():
            fn.close()


# -- the requests ----------------------------------------------------------------------------------------------


def seed_channel(rig: Rig) -> str:
    """The seed channel posted to least recently, once Slack's per-channel rate allows another post."""
    channel = min(SEED_CHANNELS, key=lambda c: rig.seed_posts.get(c, 0.0))
    wait = rig.seed_posts.get(channel, 0.0) + SEED_SPACING_S - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    rig.seed_posts[channel] = time.monotonic()
    return channel


def post_command(rig: Rig, system: str, name: str, user: str) -> tuple[str, str, str, float, float]:
    """POST one signed command to `system`'s ingress; (response key, channel, job id, t0 wall, ack ms)."""
    from infra.devstack.slack_request import SlashCommand, random_trigger_id, signed_slash_command
    from shared.jobs import job_id_for

    command, text = COMMANDS[name]
    # A channel of the local workspace the bot is in: the local Slack refuses a post elsewhere, as Slack does.
    key, trigger = secrets.token_urlsafe(10), random_trigger_id()
    channel = seed_channel(rig) if system == "seed" else SEED_CHANNELS[0]
    slash = SlashCommand(
        command=command,
        text=text,
        response_url=rig.stack.slack.response_url(key),
        user_id=user,
        user_name=user.lower(),
        team_id=TEAM_ID,
        trigger_id=trigger,
        channel_id=channel,
    )
    signed = signed_slash_command(slash, rig.secret)
    request = urllib.request.Request(
        rig.ingresses[system].events_url, data=signed.body, headers=dict(signed.headers), method="POST"
    )
    t0 = time.time()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{system} answered {response.status} to {command}")
    return key, channel, job_id_for(TEAM_ID, trigger), t0, (time.time() - t0) * 1000


def wait_answer(rig: Rig, system: str, key: str, channel: str, job: str, timeout_s: float = 60, after: int = 0) -> Any:
    """The requester's final message: opsbot's final one (job metadata), Bolt's response_url post, the seed's say()."""
    slack = rig.stack.slack
    if system == "opsbot":
        found = slack.wait_for_messages(job=job, final=True, timeout=timeout_s)
        finals = [m for m in found if m.final]
    elif system == "bolt":
        finals = slack.wait_for_messages(key=key, timeout=timeout_s)
    else:  # the seed's say(): the first post in the channel after the request that is no job's message
        deadline = time.monotonic() + timeout_s
        finals = []
        while not finals and time.monotonic() < deadline:
            found = slack.wait_for_messages(channel=channel, after=after, timeout=deadline - time.monotonic())
            finals = [m for m in found if m.kind == "chat.postMessage" and m.job_id is None]
            after = max((m.seq for m in found), default=after)
    if not finals:
        raise RuntimeError(f"no answer from {system} within {timeout_s:g} s (job {job[:8]})")
    return finals[0]


def measure(rig: Rig, system: str, start: str, kind: str, name: str, user: str = "U0ANSWER") -> Sample:
    fn = rig.functions[{"opsbot": "worker", "bolt": "bolt-lazy", "seed": "seed"}[system]]
    seen = len(fn.invocations)
    last_seq = max((m.seq for m in rig.stack.slack.messages()), default=0)
    key, channel, job, t0, ack_ms = post_command(rig, system, name, user)
    record = wait_answer(rig, system, key, channel, job, after=last_seq)
    sample = Sample(system, start, kind, name, (record.received_at - t0) * 1000, ack_ms)
    deadline = time.monotonic() + 10
    while len(fn.invocations) <= seen and time.monotonic() < deadline:  # the invocation reports after its answer
        time.sleep(0.005)
    if len(fn.invocations) > seen:
        inv = fn.invocations[seen]
        sample.work_ms = (inv.t_end - inv.t_start) / 1e6
        sample.init_ms = inv.init_ns / 1e6 if inv.init_ns else float("nan")
        sample.restore_ms = inv.restore_ns / 1e6 if inv.restore_ns else float("nan")
        sample.to_work_ms = (inv.wall_invoked - t0) * 1000
        if system == "opsbot" and inv.sent_at:
            sample.hop_ms = (inv.wall_invoked - inv.sent_at) * 1000
    return sample


# -- the rig ---------------------------------------------------------------------------------------------------


def worker_asset(interpreter: str, env: dict[str, str], destination: Path, source_root: Path = ROOT) -> list[str]:
    """The local equivalent of the worker's asset (+ the ack and the baselines' code): first-party packages from
    `source_root`, third-party ones from `interpreter`'s site-packages, compiled to unchecked-hash .pyc; with the
    installed plugins' packages and their index, as `infra/aws/bundling.py` bundles them (a tree from before plugins
    gets none)."""
    from bench.cold import imported_top_level
    from bench.deployed import build_asset
    from infra.aws.bundling import bundled_plugins
    from shared.plugins import INDEX_FILE

    first_party = ("ack_function", "worker_function", "shared")
    plugins = bundled_plugins() if (source_root / "shared" / "plugins.py").is_file() else None
    # The code as the asset lays it out (the plugins' index beside `shared`), for the probes that find what it loads.
    staging = destination.with_name(destination.name + "-staging")
    shutil.rmtree(staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in first_party:
        shutil.copytree(source_root / name, staging / name, ignore=ignore)
    extra: dict[str, str] = {}
    if plugins is not None:
        for top, directory in plugins.packages.items():
            shutil.copytree(directory, staging / top, ignore=ignore)
            extra[top] = str(directory / "__init__.py")
        (staging / INDEX_FILE).write_bytes(plugins.index)
    loaded: dict[str, str] = {}
    probe_env = {**env, "PYTHONPATH": f"{staging}{os.pathsep}{ROOT}"}
    modules = [WORKER_MODULE, *(f"worker_function.operations.{op}" for op in WORKER_OPERATIONS)]
    if source_root == ROOT:
        modules += [ACK_MODULE, BOLT_MODULE, SEED_MODULE]
    for module in modules:
        loaded.update(imported_top_level(probe_env, module, interpreter, cwd=staging))
    shutil.rmtree(staging, ignore_errors=True)
    names = build_asset(interpreter, {**loaded, **extra}, destination, first_party=first_party, source_root=source_root)
    if plugins is not None:
        (destination / INDEX_FILE).write_bytes(plugins.index)
    return names


def deployed_inventory(toml: Path, shipped: Path, source_root: Path) -> Path:
    """The inventory file as `source_root`'s CDK app ships it in the assets: JSON (written to `shipped`) where its
    infra/aws/worker.py names `inventory.json`, else the TOML file itself."""
    worker = source_root / "infra" / "aws" / "worker.py"
    if not (worker.is_file() and 'INVENTORY_FILE = "inventory.json"' in worker.read_text()):
        return toml
    from shared.inventory import inventory_json

    shipped.write_bytes(inventory_json(toml.read_bytes()))
    return shipped


def function_env(base: dict[str, str], asset: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {**base, **extra, "PYTHONPATH": os.pathsep.join([str(asset), str(SNAPSTART_DIR), str(ROOT)])}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # /var/task is read-only
    return env


def start_rig(interpreter: str, workdir: Path, log_file: Any, *, pollers: int = 1) -> tuple[Rig, Path]:
    from bench.deployed import DEPLOYED_ENVIRONMENT
    from bench.stackkit import configure_logging
    from infra.devstack.aws import aws_client
    from infra.devstack.ingress import Ingress
    from infra.devstack.stack import BOT_TOKEN, LocalStack
    from shared.settings import FUNCTION_ENVIRONMENT

    configure_logging(OUT_DIR / "bench.log")
    functions = {
        name: Function(name, module, interpreter, {}, workdir, log=log_file)
        for name, module in (
            ("ack", ACK_MODULE),
            ("worker", WORKER_MODULE),
            ("bolt-ack", BOLT_MODULE),
            ("bolt-lazy", BOLT_MODULE),
            ("seed", SEED_MODULE),
        )
    }
    stack = LocalStack(
        port=0,
        ack_handler=functions["ack"],
        worker_handler=functions["worker"],
        pollers=pollers,
        batch_size=WORKER_BATCH_SIZE,
        signing_secret="answer-bench-signing-secret-0123",
        # The functions run with the environment's keys, not under the local IAM evaluation of their deployed
        # roles: the worker reads its bot token from a secret the benchmark makes, which the local roles do not
        # name (tests/integration checks the roles; this measures time).
        iam=False,
    ).start()
    try:
        assert stack.provisioned is not None
        secret_arn = aws_client("secretsmanager", stack.endpoint_url).create_secret(
            Name=f"opsbot/answer-{time.monotonic_ns()}",
            SecretString=json.dumps({"signing_secret": stack.signing_secret, "bot_token": BOT_TOKEN}),
        )["ARN"]
        common = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
            **stack.common_environment(),
            **FUNCTION_ENVIRONMENT,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        }
        common.pop("POWERTOOLS_METRICS_DISABLED", None)  # metrics on, as deployed
        worker_env = {k: v for k, v in stack.worker_environment(stack.provisioned).items() if k != "SLACK_BOT_TOKEN"}
        worker_env |= {**DEPLOYED_ENVIRONMENT, "POWERTOOLS_SERVICE_NAME": "opsbot-worker"}
        worker_env |= {"OPSBOT_SECRET_ARN": secret_arn, "AWS_LAMBDA_FUNCTION_NAME": "opsbot-worker"}
        ack_env = {**stack.ack_environment(stack.provisioned), **DEPLOYED_ENVIRONMENT}
        ack_env["AWS_LAMBDA_FUNCTION_NAME"] = "opsbot-ack"
        inventory = stack.worker_environment(stack.provisioned)["OPSBOT_INVENTORY"]
        baseline_env = {
            "SLACK_SIGNING_SECRET": stack.signing_secret,
            "OPSBOT_INVENTORY": inventory,
            "OPSBOT_LEASES_TABLE": stack.provisioned.tables.leases,
            "AWS_ENDPOINT_URL_CODEPIPELINE": stack.codebuild.url,
            "POWERTOOLS_SERVICE_NAME": "bolt",
        }
        lambda_api = LambdaApi({"bolt-lazy": functions["bolt-lazy"]}).start()
        bolt_env = {**baseline_env, "AWS_ENDPOINT_URL_LAMBDA": lambda_api.url, "AWS_LAMBDA_FUNCTION_NAME": "bolt-lazy"}
        seed_env = {
            **baseline_env,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": stack.slack.api_url,
            "AWS_LAMBDA_FUNCTION_NAME": "seed",
        }
        asset = workdir / "asset"
        names = worker_asset(interpreter, {**common, **worker_env, **seed_env}, asset)
        log(f"answer: asset built ({', '.join(names)})")
        # The inventory as the assets ship it (JSON, shared.inventory.inventory_json), for every function that reads it.
        shipped = deployed_inventory(Path(inventory), asset / "inventory.json", ROOT)
        for env in (worker_env, ack_env, bolt_env, seed_env):
            env["OPSBOT_INVENTORY"] = str(shipped)
        for name, extra in (
            ("ack", ack_env),
            ("worker", worker_env),
            ("bolt-ack", bolt_env),
            ("bolt-lazy", bolt_env),
            ("seed", seed_env),
        ):
            functions[name].env.update(function_env(common, asset, extra))
        ingresses = {
            "opsbot": stack.ingress,
            "bolt": Ingress(functions["bolt-ack"], port=0).start(),
            "seed": Ingress(functions["seed"], port=0).start(),
        }
        for name in ("ack", "bolt-ack"):
            functions[name].set_mode("warm")
        return Rig(stack, functions, ingresses, lambda_api, stack.signing_secret), asset
    except BaseException:
        stack.stop()
        raise


def warm_up(rig: Rig) -> None:
    """One answered command per system and mode, so every warm sandbox has run a job and every snapshot exists."""
    rig.functions["worker"].set_mode("restore")
    for system, start in VARIANTS:
        set_variant(rig, system, start)
        measure(rig, system, start, "status", "status")


def set_variant(rig: Rig, system: str, start: str) -> None:
    fn = rig.functions[{"opsbot": "worker", "bolt": "bolt-lazy", "seed": "seed"}[system]]
    fn.set_mode(start)


# -- the sections ----------------------------------------------------------------------------------------------


def run_answers(rig: Rig, rounds: int, rng: random.Random) -> None:
    lock_next = {system: True for system, _ in VARIANTS}
    for round_no in range(rounds):
        plan = [(system, start, kind) for system, start in VARIANTS for kind in KINDS]
        rng.shuffle(plan)
        for system, start, kind in plan:
            set_variant(rig, system, start)
            names = KINDS[kind]
            name = names[0]
            if len(names) > 1:  # lock, then unlock, alternately per system (one lock per target at a time)
                name = "lock" if lock_next[system] else "unlock"
                lock_next[system] = not lock_next[system]
            rig.samples.append(measure(rig, system, start, kind, name))
        log(f"answer: round {round_no + 1}/{rounds}")


def _sel(samples: list[Sample], **where: str) -> list[Sample]:
    return [s for s in samples if all(getattr(s, k) == v for k, v in where.items())]


def _p(values: list[float], q: str) -> float:
    clean = [v for v in values if v == v]
    return float(summarize(clean)[q]) if clean else float("nan")


def answer_section(samples: list[Sample], rounds: int) -> Section:
    section = Section(
        key="answer",
        title="Time to answer: signed POST to the requester's final message (ms), Python 3.13, local stack",
        headers=[
            "command",
            "variant",
            "worker start",
            "p50",
            "p99",
            "ack p50",
            "POST to the work's invocation p50",
            "of it, the queue hop p50",
            "work in the function p50",
            "init or restore p50",
            "opsbot / this (p50)",
        ],
    )
    for kind in KINDS:
        base = {
            s: _p([x.answer_ms for x in _sel(samples, system="opsbot", start=s, kind=kind)], "p50")
            for s in ("cold", "warm", "restore")
        }
        for system, start in VARIANTS:
            rows = _sel(samples, system=system, start=start, kind=kind)
            answers = [r.answer_ms for r in rows]
            if not answers:
                continue
            ops = base["restore" if start == "restore" else start] if system != "opsbot" else float("nan")
            setup = [r.init_ms if start == "cold" else r.restore_ms for r in rows]
            section.rows.append(
                [
                    f"`{' / '.join(' '.join(COMMANDS[n]) for n in KINDS[kind])}`",
                    LABELS[system],
                    {"cold": "cold (fresh process)", "warm": "warm", "restore": "restored (SnapStart, fork)"}[start],
                    fmt_ms(_p(answers, "p50"), 0),
                    fmt_ms(_p(answers, "p99"), 0),
                    fmt_ms(_p([r.ack_ms for r in rows], "p50"), 1),
                    fmt_ms(_p([r.to_work_ms for r in rows], "p50"), 1),
                    fmt_ms(_p([r.hop_ms for r in rows], "p50"), 1) if system == "opsbot" else "",
                    fmt_ms(_p([r.work_ms for r in rows], "p50"), 0),
                    fmt_ms(_p(setup, "p50"), 0) if start != "warm" else "",
                    fmt_ratio(ratio(ops, _p(answers, "p50"))) if system != "opsbot" else "",
                ]
            )
            section.samples[f"{kind}: {LABELS[system]}, {start}"] = answers
    read_only = ("status", "deploy-status")

    def p50(system: str, start: str, kinds: tuple[str, ...] = read_only) -> float:
        return _p([s.answer_ms for s in samples if s.system == system and s.start == start and s.kind in kinds], "p50")

    cold_ratio = ratio(p50("opsbot", "cold"), p50("bolt", "cold"))
    warm_ratio = ratio(p50("opsbot", "warm"), p50("bolt", "warm"))
    restore_excess = {k: p50("opsbot", "restore", (k,)) - p50("opsbot", "warm", (k,)) for k in KINDS}
    hop = _p([s.hop_ms for s in samples if s.system == "opsbot" and s.kind in read_only], "p50")
    work_w = _p(
        [s.work_ms for s in samples if s.system == "opsbot" and s.start == "warm" and s.kind in read_only], "p50"
    )
    bolt_work = _p(
        [s.work_ms for s in samples if s.system == "bolt" and s.start == "warm" and s.kind in read_only], "p50"
    )
    hook = _p([s.restore_ms for s in samples if s.system == "opsbot" and s.start == "restore"], "p50")
    work_r = _p(
        [s.work_ms for s in samples if s.system == "opsbot" and s.start == "restore" and s.kind in read_only], "p50"
    )
    init_o = _p([s.init_ms for s in samples if s.system == "opsbot" and s.start == "cold"], "p50")
    init_b = _p([s.init_ms for s in samples if s.system == "bolt" and s.start == "cold"], "p50")
    section.targets += [
        Target(
            "Time to answer, read-only, cold worker: opsbot / Bolt lazy",
            "<= 0.8x",
            f"{fmt_ratio(cold_ratio)} p50 ({fmt_ms(p50('opsbot', 'cold'), 0)} vs {fmt_ms(p50('bolt', 'cold'), 0)} ms)",
            cold_ratio <= 0.8,
            f"the worker's cold init {fmt_ms(init_o, 0)} ms vs Bolt lazy's {fmt_ms(init_b, 0)} ms (the worker loads "
            "boto3 and Powertools idempotency for its exactly-once bookkeeping); restored from a snapshot instead, "
            f"opsbot answers in {fmt_ms(p50('opsbot', 'restore'), 0)} ms "
            f"({fmt_ratio(ratio(p50('opsbot', 'restore'), p50('bolt', 'cold')))} Bolt lazy cold)",
            goal_key="answer_cold",
        ),
        Target(
            "Time to answer, read-only, warm: opsbot / Bolt lazy (the queue hop included)",
            "<= 1.0x",
            f"{fmt_ratio(warm_ratio)} p50 ({fmt_ms(p50('opsbot', 'warm'), 0)} vs {fmt_ms(p50('bolt', 'warm'), 0)} ms; "
            f"queue hop {fmt_ms(hop, 1)} ms)",
            warm_ratio <= 1.0,
            f"the worker's job {fmt_ms(work_w, 0)} ms vs the lazy listener's {fmt_ms(bolt_work, 0)} ms: what exactly "
            "once costs (Powertools idempotency records for the run and the reply, the job registry, the lease) in "
            "DynamoDB round trips to moto",
            goal_key="answer_warm",
        ),
        Target(
            "Worker restored from a snapshot: time to answer minus warm",
            "<= 50 ms",
            ", ".join(f"{k} {restore_excess[k]:+.0f} ms" for k in KINDS) + " (p50 - p50)",
            all(v <= 50 for v in restore_excess.values()),
            f"the after-restore hook {fmt_ms(hook, 0)} ms p50 (the fork, a new random seed, collection enabled again; "
            "the bot token is read by a job's first Web API call, which an answer through the response_url never "
            f"makes) and the copy's first job: {fmt_ms(work_r, 0)} vs {fmt_ms(work_w, 0)} ms warm (its credentials "
            "resolved, its connections to DynamoDB, the target's service and Slack opened, the snapshot's pages "
            "copied as they are written)",
            goal_key="answer_restore",
        ),
    ]
    hops = [s.hop_ms for s in samples if s.system == "opsbot"]
    section.notes += [
        f"{rounds} rounds; in each, every (variant, command) once, in random order: {len(samples)} answers. With so "
        "few samples per row p99 is close to the maximum. Times are wall-clock on one machine: the POST's start and "
        "the local Slack API's receipt of the final message (time.time()).",
        "The acks are warm in every variant (their cold starts are measured by `--only deployed`); 'worker start' "
        "is where the work runs: opsbot's worker, Bolt's self-invoked lazy listener, the seed's single function.",
        f"The queue hop (opsbot): SQS's SentTimestamp of the job to the worker's invocation by the event source: "
        f"p50 {fmt_ms(_p(hops, 'p50'), 1)} ms, p99 {fmt_ms(_p(hops, 'p99'), 1)} "
        "ms over all opsbot answers (long polls on moto server, which answers a waiting ReceiveMessage as soon as a "
        "message lands; SQS's own hop is not measured here). 'POST to the work's invocation': for Bolt lazy its ack "
        "and asynchronous Invoke (Bolt invokes before the ack's response leaves), for the seed the whole request.",
        "The work: `/ops-status` one ECS DescribeServices; `/deploy-status` DescribeServices and CodePipeline "
        "GetPipelineState (the local stack's pipeline server); `/ops-lock` and `/ops-unlock` a lease in DynamoDB "
        "(and opsbot's audit record). Bolt and the seed make the same AWS calls without what opsbot adds around them "
        "(idempotency records, the job registry, policy, audit): bench/baselines/answer_work.py.",
    ]
    section.data["samples"] = [s.__dict__ for s in samples]
    section.data["ratios"] = {"cold": cold_ratio, "warm": warm_ratio, "restore_excess": restore_excess}
    return section


# -- the worker's cold init, before and after ------------------------------------------------------------------


def init_section(interpreter: str, env: dict[str, str], after_asset: Path, workdir: Path, reps: int) -> Section:
    """Fresh processes of the worker before (the base revision's code; or each of $OPSBOT_BENCH_BEFORE's, comma
    separated, the first one the ratio's base) and after, interleaved: init and RSS."""
    from bench.cold import importtime_profile
    from bench.deployed import package_self_ms
    from bench.invoker import _Process
    from bench.worker import before_revision, before_tree

    chosen = os.environ.get("OPSBOT_BENCH_BEFORE", "")
    revisions = []
    for name in chosen.split(",") if "," in chosen else [""]:
        if name:
            os.environ["OPSBOT_BENCH_BEFORE"] = name
        revisions.append(before_revision())
    if chosen:
        os.environ["OPSBOT_BENCH_BEFORE"] = chosen
    revision = revisions[0]
    # Each variant reads its own revision's example inventory: an older worker refuses a newer inventory's sections.
    variants: dict[str, Path] = {}
    inventories: dict[str, Path] = {}
    for index, rev in enumerate(revisions):
        tree = before_tree(rev)
        key = "before" if index == 0 else f"before {rev}"
        variants[key] = workdir / f"asset-before-{rev}"
        example = tree / "inventory.example.toml"
        worker_asset(interpreter, {**env, "OPSBOT_INVENTORY": str(example)}, variants[key], source_root=tree)
        inventories[key] = deployed_inventory(example, variants[key] / "inventory.json", tree)
    variants["after"] = after_asset
    inventories["after"] = deployed_inventory(ROOT / "inventory.example.toml", workdir / "inventory-after.json", ROOT)
    fns = {
        k: Function(
            f"worker-{k}",
            WORKER_MODULE,
            interpreter,
            function_env(env, a, {"OPSBOT_INVENTORY": str(inventories[k])}),
            workdir,
        )
        for k, a in variants.items()
    }
    results: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    order = list(variants)
    for _ in range(reps):
        random.shuffle(order)
        for key in order:
            process = _Process(fns[key], "serve", subprocess.DEVNULL)
            results[key].append(
                {
                    "init_ms": (process.ready["t_imported"] - process.t_spawn) / 1e6,
                    "rss_kb": process.ready["rss_kb"],
                    "modules": process.ready["modules"],
                    "cpu_ms": process.ready.get("cpu_ms", float("nan")),
                }
            )
            process.close()
    profiles = {
        k: package_self_ms(
            importtime_profile({**fns[k].env}, WORKER_MODULE, runs=1, interpreter=interpreter, cwd=workdir)
        )
        for k in variants
    }
    section = Section(
        key="worker_init",
        title="Worker cold init, Python 3.13, as deployed (bot token by ARN): before and after (ms)",
        headers=[
            "variant",
            "init p50",
            "init p99",
            "CPU p50",
            "RSS after init MB",
            "modules",
            "after / before (p50)",
            "CPU after / before (p50)",
        ],
    )
    p = {k: summarize([r["init_ms"] for r in v]) for k, v in results.items()}
    cpu = {k: _p([r["cpu_ms"] for r in v], "p50") for k, v in results.items()}
    for key in variants:
        rows = results[key]
        section.rows.append(
            [
                f"{key} ({revision if key == 'before' else 'this revision'})" if " " not in key else key,
                fmt_ms(p[key]["p50"], 0),
                fmt_ms(p[key]["p99"], 0),
                fmt_ms(cpu[key], 0),
                f"{median(r['rss_kb'] for r in rows) / 1024:.0f}",
                f"{median(r['modules'] for r in rows):.0f}",
                fmt_ratio(ratio(p[key]["p50"], p["before"]["p50"])),
                fmt_ratio(ratio(cpu[key], cpu["before"])),
            ]
        )
        section.samples[f"worker init, {key}"] = [r["init_ms"] for r in rows]
    r = ratio(p["after"]["p50"], p["before"]["p50"])
    top = ", ".join(f"`{n}` {fmt_ms(v, 0)}" for n, v in list(profiles["after"].items())[:8])
    section.targets.append(
        Target(
            "Worker cold init: after / before",
            "<= 0.5x",
            f"{fmt_ratio(r)} p50 ({fmt_ms(p['after']['p50'], 0)} vs {fmt_ms(p['before']['p50'], 0)} ms; "
            f"before: {revision}); CPU time {fmt_ratio(ratio(cpu['after'], cpu['before']))} "
            f"({fmt_ms(cpu['after'], 0)} vs {fmt_ms(cpu['before'], 0)} ms)",
            r <= 0.5,
            f"what every job needs, imported at init: {top} (-X importtime self ms by package); boto3 (DynamoDB for "
            "Powertools idempotency) and pydantic are used by every job",
            goal_key="worker_init",
        )
    )
    section.notes += [
        f"{reps} fresh processes per variant, interleaved: interpreter start to the handler module imported (its init "
        "included: settings, each revision's `inventory.example.toml` (as JSON where that revision's assets ship it "
        "so), clients, and, where the revision reads it at init, the bot token from Secrets Manager on moto by ARN). "
        "Before: "
        f"the code of {revision} (`git archive`, $OPSBOT_BENCH_BEFORE picks another), in an asset built the same way.",
        "Where the init goes (`-X importtime`, self ms by package, one process each): after "
        + ", ".join(f"`{n}` {fmt_ms(v, 0)}" for n, v in list(profiles["after"].items())[:10])
        + "; before "
        + ", ".join(f"`{n}` {fmt_ms(v, 0)}" for n, v in list(profiles["before"].items())[:10])
        + (f" (before: {revision}; also measured: {', '.join(revisions[1:])})" if len(revisions) > 1 else "")
        + ". The handler module's own line is its init.",
    ]
    section.data["init"] = results
    section.data["importtime"] = profiles
    for fn in fns.values():
        fn.close()
    return section


# -- the burst --------------------------------------------------------------------------------------------------


def run_burst(
    rig: Rig,
    concurrency: int,
    warm_job_ms: float,
    rng: random.Random,
    n: int = 100,
    people: int = 20,
    window_s: float = 10.0,
) -> dict[str, Any]:
    """`n` commands from `people` people at random moments within `window_s`, the event source at `concurrency`."""
    from infra.devstack.poller import SqsPoller
    from shared.settings import WORKER_TIMEOUT_SECONDS

    stack = rig.stack
    worker = rig.functions["worker"]
    worker.set_mode("warm", count=concurrency)
    rig.functions["ack"].set_mode("warm", count=4)
    pollers = [
        SqsPoller(
            stack.provisioned.queue_url,
            stack.provisioned.queue_arn,
            endpoint_url=stack.endpoint_url,
            handler=worker,
            batch_size=WORKER_BATCH_SIZE,
            function_timeout_s=WORKER_TIMEOUT_SECONDS,
            thread_name=f"burst-poller-{i}",
        ).start()
        for i in range(concurrency - 1)  # the stack's own poller is the last
    ]
    names = ["status", "deploy-status"]
    plan = sorted((rng.uniform(0, window_s), f"U0PERSON{i % people:02d}", names[i % 2]) for i in range(n))
    sent: list[tuple[str, float]] = []
    lock = threading.Lock()
    seen = len(worker.invocations)
    started = time.time()

    def send(at: float, user: str, name: str) -> None:
        delay = started + at - time.time()
        if delay > 0:
            time.sleep(delay)
        _key, _channel, job, t0, _ack = post_command(rig, "opsbot", name, user)
        with lock:
            sent.append((job, t0))

    try:
        with ThreadPoolExecutor(max_workers=people) as pool:
            list(pool.map(lambda p: send(*p), plan))
        last_sent = max(t for _, t in sent)
        finals = [wait_answer(rig, "opsbot", "", "", job, timeout_s=120) for job, _ in sent]
    finally:
        for poller in pollers:
            poller.request_stop()
        for poller in pollers:
            poller.stop()
    answers = [(f.received_at - t0) * 1000 for f, (_, t0) in zip(finals, sent, strict=True)]
    last = max(f.received_at for f in finals)
    invocations = worker.invocations[seen:]
    jobs_ms = [(i.t_end - i.t_start) / 1e6 for i in invocations]
    ideal = n * warm_job_ms / concurrency / 1000
    return {
        "concurrency": concurrency,
        "to_last_answer_s": last - started,
        "after_last_command_s": last - last_sent,
        "answer_p50_ms": _p(answers, "p50"),
        "answer_p99_ms": _p(answers, "p99"),
        "job_p50_ms": _p(jobs_ms, "p50"),
        "cold_starts": sum(1 for i in invocations if i.init_ns),
        "ideal_s": ideal,
        "ratio": ratio(last - started, ideal),
        "ratio_with_arrivals": ratio(last - started, max(ideal, window_s + warm_job_ms / 1000)),
    }


def burst_section(results: list[dict[str, Any]], warm_job_ms: float) -> Section:
    section = Section(
        key="burst",
        title="A burst during an incident: 100 commands from 20 people within 10 s (opsbot, warm workers)",
        headers=[
            "maximum concurrency",
            "first command to last answer (s)",
            "last command to last answer (s)",
            "answer p50 / p99 (ms)",
            "job p50 (ms)",
            "cold starts",
            "100 x warm job / concurrency (s)",
            "ratio",
            "ratio to max(that, 10 s + one job)",
        ],
    )
    for r in results:
        section.rows.append(
            [
                f"{r['concurrency']}" + (" (deployed)" if r["concurrency"] == WORKER_MAX_CONCURRENCY else ""),
                f"{r['to_last_answer_s']:.1f}",
                f"{r['after_last_command_s']:.2f}",
                f"{fmt_ms(r['answer_p50_ms'], 0)} / {fmt_ms(r['answer_p99_ms'], 0)}",
                fmt_ms(r["job_p50_ms"], 0),
                str(r["cold_starts"]),
                f"{r['ideal_s']:.2f}",
                fmt_ratio(r["ratio"]),
                fmt_ratio(r["ratio_with_arrivals"]),
            ]
        )
    deployed = next((r for r in results if r["concurrency"] == WORKER_MAX_CONCURRENCY), None)
    if deployed is not None:
        section.targets.append(
            Target(
                f"Burst of 100: time to last answer / (100 x one warm job / max concurrency {WORKER_MAX_CONCURRENCY})",
                "<= 1.5x",
                f"{fmt_ratio(deployed['ratio'])} ({deployed['to_last_answer_s']:.1f} s vs {deployed['ideal_s']:.2f} s;"
                f" {fmt_ratio(deployed['ratio_with_arrivals'])} of what the arrivals allow: they come over 10 s)",
                deployed["ratio"] <= 1.5,
                "the commands arrive over 10 s, so the last answer cannot come before 10 s + one job whatever the "
                "concurrency; on this 2-core machine the workers, moto and the local Slack share the CPU, so "
                "concurrency past 2 adds no throughput here (on Lambda each sandbox has its own)",
                goal_key="burst",
            )
        )
    section.notes += [
        f"Batch size {WORKER_BATCH_SIZE} (as deployed); one event-source poller per unit of maximum concurrency, each "
        f"invoking a warm worker sandbox (one per poller, warmed before the burst; a busy pool cold-starts another as "
        f"Lambda scales out). The warm job ({fmt_ms(warm_job_ms, 0)} ms) is the median work of opsbot's warm "
        "read-only answers in this run. 20 people, 5 commands each (`/ops-status payment`, `/deploy-status payment`), "
        "at random moments within 10 s.",
    ]
    section.data["burst"] = results
    return section


# -- the run ---------------------------------------------------------------------------------------------------


def run(quick: bool) -> list[Section]:
    from bench.deployed import ensure_venv, find_python

    started = time.monotonic()
    py313 = find_python("3.13")
    if py313 is None:
        raise RuntimeError("no CPython 3.13 found (OPSBOT_BYTECODE_PYTHON, python3.13 on the PATH, pyenv)")
    interpreter = ensure_venv(py313, "3.13") if sys.version_info[:2] != (3, 13) else sys.executable
    rounds, init_reps = (3, 5) if quick else (6, 9)
    concurrencies = (
        (2, WORKER_MAX_CONCURRENCY) if quick else tuple(sorted({*BURST_CONCURRENCIES, WORKER_MAX_CONCURRENCY}))
    )
    workdir = Path(tempfile.mkdtemp(prefix="opsbot-bench-answer-"))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(27)
    loads = [os.getloadavg()[0]]
    sections: list[Section] = []
    with open(OUT_DIR / "answer-functions.log", "ab") as log_file:
        rig, asset = start_rig(interpreter, workdir, log_file)
        try:
            warm_up(rig)
            log("answer: warmed up")
            run_answers(rig, rounds, rng)
            loads.append(os.getloadavg()[0])
            answer = answer_section(rig.samples, rounds)
            sections.append(answer)
            warm_jobs = [
                s.work_ms
                for s in rig.samples
                if s.system == "opsbot" and s.start == "warm" and s.kind in ("status", "deploy-status")
            ]
            warm_job_ms = _p(warm_jobs, "p50")
            env = {k: v for k, v in rig.functions["worker"].env.items() if k != "PYTHONPATH"}
            sections.append(init_section(interpreter, env, asset, workdir, init_reps))
            loads.append(os.getloadavg()[0])
            bursts = []
            for concurrency in concurrencies:
                bursts.append(run_burst(rig, concurrency, warm_job_ms, rng))
                log(f"answer: burst at concurrency {concurrency}: {bursts[-1]['to_last_answer_s']:.1f} s")
            loads.append(os.getloadavg()[0])
            sections.append(burst_section(bursts, warm_job_ms))
        finally:
            rig.close()
            rig.stack.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    for section in sections:
        section.notes.append(
            f"Load average (1 min) during the run: {', '.join(f'{v:.1f}' for v in loads)} on {os.cpu_count()} cores."
        )
        section.seconds = (time.monotonic() - started) / len(sections)
        section.data["load"] = loads
    return sections


def run_init(quick: bool) -> list[Section]:
    """The worker's cold init before and after alone (`python -m bench --only worker_init`): the rig, no answers."""
    from bench.deployed import ensure_venv, find_python

    started = time.monotonic()
    py313 = find_python("3.13")
    if py313 is None:
        raise RuntimeError("no CPython 3.13 found (OPSBOT_BYTECODE_PYTHON, python3.13 on the PATH, pyenv)")
    interpreter = ensure_venv(py313, "3.13") if sys.version_info[:2] != (3, 13) else sys.executable
    workdir = Path(tempfile.mkdtemp(prefix="opsbot-bench-init-"))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    loads = [os.getloadavg()[0]]
    with open(OUT_DIR / "answer-functions.log", "ab") as log_file:
        rig, asset = start_rig(interpreter, workdir, log_file)
        try:
            env = {k: v for k, v in rig.functions["worker"].env.items() if k != "PYTHONPATH"}
            section = init_section(interpreter, env, asset, workdir, 7 if quick else 15)
        finally:
            rig.close()
            rig.stack.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    loads.append(os.getloadavg()[0])
    section.notes.append(
        f"Load average (1 min) during the run: {', '.join(f'{v:.1f}' for v in loads)} on {os.cpu_count()} cores."
    )
    section.seconds = time.monotonic() - started
    section.data["load"] = loads
    return [section]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from bench.run_all import main as run_all

    return run_all(["--only", "answer", *(["--quick"] if args.quick else [])])


if __name__ == "__main__":
    sys.exit(main())
