"""Issue 7, item 4: time to ack a 10 s operation, opsbot through the local stack vs the seed pattern.

opsbot: a local stack whose `pollers` workers (batch size 1) are first all kept busy by `/ops-ping 10`
jobs; while they work, `/ops-ping 10` commands are sent one after another and each ack is timed by
the client (HTTP on loopback included). Those later jobs are then purged from the queue (they only
served to time acks), and the first jobs' final messages give the time to the result.
Seed: the article's pattern (bench/baselines/seed_sync.py) with a 10 s listener, behind the same
local API Gateway (infra/devstack/ingress.py), requests sent concurrently; its "ack" is the HTTP response.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from typing import Any

from bench.common import Section, Target, fmt_ms, log, ratio, scoped_env, summarize
from bench.stackkit import QUEUED, FinalWatch, ack_text, configure_logging, new_command, send_bursts, signed_request

WORK_S = 10
SEED_SECRET = "seed-signing-secret-0123456789abcd"


def seed_handler(slack_api_url: str, bot_token: str) -> Any:
    """The seed's Lambda entry, built from its environment (its app calls auth.test on the local Slack)."""
    env = {
        "SLACK_SIGNING_SECRET": SEED_SECRET,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_API_URL": slack_api_url,
        "SEED_WORK_SECONDS": str(WORK_S),
    }
    name = "bench.baselines.seed_sync_lambda"
    with scoped_env(env):
        module = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
    return module.lambda_handler


def time_seed(ingress_url: str, slack_url: str, n: int) -> list[dict[str, Any]]:
    """n concurrent seed requests; each result has the HTTP status and the time to the response."""
    from bench.common import slash_command
    from infra.devstack.errors import IngressUnreachableError
    from infra.devstack.slack_request import post, signed_slash_command

    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        request = signed_slash_command(
            slash_command("/ops-restart", "payment", response_url=f"{slack_url}/response/seed-{i}"), SEED_SECRET
        )
        started = time.perf_counter()
        out: dict[str, Any]
        try:
            answer = post(f"{ingress_url}/slack/events", request, timeout=WORK_S + 15)
            out = {"status": answer.status, "ms": answer.latency_ms}
        except IngressUnreachableError as exc:
            out = {"status": None, "ms": (time.perf_counter() - started) * 1000, "error": str(exc)}
        with lock:
            results.append(out)

    threads = [threading.Thread(target=one, args=(i,), name=f"seed-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WORK_S + 30)
    return results


def run(quick: bool, *, pollers: int = 5) -> list[Section]:
    from infra.devstack.aws import aws_client
    from infra.devstack.ingress import Ingress
    from infra.devstack.stack import LocalStack

    configure_logging()
    started = time.monotonic()
    n_acks, n_seed = (50, 3) if quick else (200, 5)
    with LocalStack(port=0, pollers=pollers, batch_size=1) as stack:
        state = stack.state
        watch = FinalWatch()
        # 1. Keep every worker busy with a 10 s operation.
        busy = [new_command(i, "/ops-ping", str(WORK_S)) for i in range(pollers)]
        t_busy = time.time()
        sent = send_bursts(
            state.events_url,
            [[signed_request(c, state.slack_url, stack.signing_secret, request_id=c.id) for c in busy]],
            concurrency=pollers,
        )
        assert all(r["status"] == 200 for r in sent["results"]), sent
        deadline = time.monotonic() + 10
        while sum(p.stats.records for p in stack.pollers) < pollers and time.monotonic() < deadline:
            time.sleep(0.05)
        # 2. Time acks of more 10 s operations while they run, one request at a time.
        commands = [new_command(100 + i, "/ops-ping", str(WORK_S)) for i in range(n_acks)]
        requests = [signed_request(c, state.slack_url, stack.signing_secret, request_id=c.id) for c in commands]
        acks = send_bursts(state.events_url, [requests], concurrency=1)["results"]
        # They only served to time acks: nobody waits 10 s x n for them to run.
        assert stack.provisioned is not None
        aws_client("sqs", stack.moto.endpoint_url).purge_queue(QueueUrl=stack.provisioned.queue_url)
        log(f"long operation: {n_acks} acks timed; seed requests running ({WORK_S} s each)")
        # 3. The seed pattern, concurrently with the wait for the busy jobs' results.
        seed_ingress = Ingress(seed_handler(stack.slack.api_url, "xoxb-local"), port=0).start()
        try:
            seed = time_seed(seed_ingress.url, state.slack_url, n_seed)
        finally:
            seed_ingress.stop()
        finished = watch.wait(stack.slack, [c.job_id for c in busy], timeout_s=WORK_S + 30)
        results_s = [watch.finals[c.job_id][0].received_at - t_busy for c in busy if c.job_id in watch.finals]

    latencies = [r["latency_ms"] for r in acks if r["status"] == 200 and QUEUED.search(ack_text(r["body"]))]
    o = summarize(latencies)
    seed_ms = [r["ms"] for r in seed if r["status"] == 200]
    s = summarize(seed_ms) if seed_ms else {"n": 0, "p50": float("nan"), "max": float("nan")}
    section = Section(
        key="long_op",
        title=f"4. Time to ack a {WORK_S} s operation (ms)",
        headers=["variant", "requests", "ack p50", "ack p99", "ack max", "result after"],
    )
    section.rows.append(
        [
            "opsbot via local stack",
            f"{o['n']}/{n_acks}",
            fmt_ms(o["p50"]),
            fmt_ms(o["p99"]),
            fmt_ms(o["max"]),
            f"{min(results_s):.2f} s (ack first, result by the worker)" if results_s else "n/a",
        ]
    )
    section.rows.append(
        [
            "seed pattern (sync listener)",
            f"{s['n']}/{n_seed}",
            fmt_ms(s["p50"], 0),
            fmt_ms(s.get("p99"), 0),
            fmt_ms(s["max"], 0),
            "with the ack: Slack gave up at 3 s (dispatch_failed)",
        ]
    )
    section.samples = {"opsbot ack": latencies, "seed ack": seed_ms}
    section.data = {"opsbot": o, "seed": s, "results_s": results_s, "busy_jobs_finished": finished}
    section.targets.append(
        Target(
            f"Ack of a {WORK_S} s operation, local stack",
            "p99 < 50 ms; seed >= 10 s",
            f"opsbot {fmt_ms(o['p99'])} ms p99; seed {fmt_ms(s['p50'], 0)} ms p50 "
            f"({ratio(s['p50'], o['p50']):,.0f}x opsbot's p50)",
            o["p99"] < 50 and s["n"] > 0 and s["p50"] >= WORK_S * 1000,
        )
    )
    section.notes += [
        f"opsbot: {pollers} workers (pollers, batch size 1) each running a `/ops-ping {WORK_S}` job while "
        f"{n_acks} more `/ops-ping {WORK_S}` commands were posted one at a time to the ingress; ack = client-side "
        "HTTP round trip on loopback, SQS SendMessage to moto included. Those jobs were then purged from the queue.",
        f"seed: {n_seed} concurrent requests to the seed app behind the same local API Gateway; each answers only "
        f"after its listener's {WORK_S} s of work and its say() (Slack would have shown dispatch_failed at 3 s).",
    ]
    section.seconds = time.monotonic() - started
    return [section]
