"""Issue 7, item 2: warm ack overhead per request, without the queue's network time.

opsbot: `ack_function.app.build_app` on the real `SqsJobQueue` whose SQS client records SendMessage
(so the envelope is still built and serialised), answered through `ack_function.handler.handle`.
Bolt lazy (best case): the same request through Bolt's lazy listener, its Lambda Invoke replaced by
a recording client (Bolt's `LambdaLazyListenerRunner(lambda_client=...)`), so no network either.
Both run in this process, interleaved in rounds, after a warm-up.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable
from typing import Any

from bench.common import (
    SIGNING_SECRET,
    FakeContext,
    RecordingLambdaClient,
    RecordingSqsClient,
    Section,
    Target,
    build_opsbot_handler,
    fmt_ms,
    fmt_ratio,
    fresh_events,
    log,
    ratio,
    scoped_env,
    summarize,
    time_calls,
)

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/opsbot-jobs"


def _ack_env() -> dict[str, str | None]:
    """Enough for `ack_function.handler` to initialise on import without touching the network."""
    return {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "JOBS_QUEUE_URL": QUEUE_URL,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def opsbot_call() -> tuple[Callable[[dict[str, Any]], Any], RecordingSqsClient]:
    """What `ack_function.handler.lambda_handler` does per request, with our app on a recording queue:
    `handle(...)`, then the AckLatency metric and the EMF flush (which also carries the JobsQueued count)."""
    with scoped_env(_ack_env()):
        import ack_function.handler as ack_handler
    from aws_lambda_powertools.metrics import MetricUnit

    from shared.observability import ACK_LATENCY, function_metrics, publish
    from shared.queue import SqsJobQueue

    sqs = RecordingSqsClient()
    handler = build_opsbot_handler(SqsJobQueue(QUEUE_URL, client=sqs))
    handle = getattr(ack_handler, "handle", None) or (lambda h, event, context: h.handle(event, context))
    metrics = function_metrics("opsbot-ack")
    context = FakeContext()

    def call(event: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return handle(handler, event, context)
        finally:
            metrics.add_metric(
                name=ACK_LATENCY, unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
            )
            publish(metrics)

    return call, sqs


def bolt_lazy_call() -> tuple[Callable[[dict[str, Any]], Any], RecordingLambdaClient]:
    from bench.baselines.bolt_lazy import build_app, build_handler

    client = RecordingLambdaClient()
    handler = build_handler(build_app(SIGNING_SECRET), client)
    context = FakeContext()
    return (lambda event: handler.handle(event, context)), client


def run(quick: bool) -> list[Section]:
    started = time.monotonic()
    rounds, per_round = (6, 500) if quick else (10, 2000)
    samples: dict[str, list[float]] = {"opsbot": [], "bolt": []}
    # Imported before stdout is redirected: Powertools' log handler keeps the stream it finds at import, and
    # later benchmarks reuse the module (the local stack reloads it) after the redirect's file is closed.
    with scoped_env(_ack_env()):
        import ack_function.handler  # noqa: F401
    # Metrics enabled as on AWS; their EMF lines go to /dev/null instead of Lambda's log pipe.
    with (
        scoped_env({"POWERTOOLS_METRICS_DISABLED": "false"}),
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
    ):
        ops, sqs = opsbot_call()
        bolt, lam = bolt_lazy_call()
        # Warm-up, and a check that both answer 200 and really queue / invoke.
        for call in (ops, bolt):
            for event in fresh_events(200):
                response = call(event)
                assert response["statusCode"] == 200, response
        assert len(sqs.sent) == 200 and len(lam.invocations) == 200, (len(sqs.sent), len(lam.invocations))
        for r in range(rounds):
            pairs = (("opsbot", ops), ("bolt", bolt)) if r % 2 == 0 else (("bolt", bolt), ("opsbot", ops))
            for key, call in pairs:
                events = fresh_events(per_round)
                gc.collect()
                samples[key].extend(time_calls(call, events))
    log(f"warm ack: {rounds * per_round} requests per variant")

    o, b = summarize(samples["opsbot"]), summarize(samples["bolt"])
    section = Section(
        key="warm",
        title="2. Warm ack overhead per request, queue network excluded (ms)",
        headers=["variant", "n", "p50", "p90", "p99", "max", "p50 vs Bolt lazy", "p99 vs Bolt lazy"],
    )
    for label, s in (("opsbot ack", o), ("Bolt lazy (best case)", b)):
        section.rows.append(
            [
                label,
                str(s["n"]),
                fmt_ms(s["p50"]),
                fmt_ms(s["p90"]),
                fmt_ms(s["p99"]),
                fmt_ms(s["max"]),
                fmt_ratio(ratio(s["p50"], b["p50"])),
                fmt_ratio(ratio(s["p99"], b["p99"])),
            ]
        )
    section.samples = {"opsbot ack": samples["opsbot"], "Bolt lazy (best case)": samples["bolt"]}
    section.data = {"opsbot": o, "bolt_lazy": b}
    section.targets.append(
        Target(
            "Warm ack overhead p99 (no queue network)",
            "<= 1 ms",
            f"{fmt_ms(o['p99'])} ms p99 ({fmt_ms(o['p50'])} p50); {fmt_ratio(ratio(o['p99'], b['p99']))} of Bolt lazy",
            o["p99"] <= 1.0,
        )
    )
    section.notes += [
        f"{rounds} interleaved rounds of {per_round} requests per variant after 200 warm-up requests each; GC "
        "enabled as on Lambda (collected between rounds). Every request is a freshly signed HTTP API v2 event "
        "(Bolt's adapter mutates events).",
        "opsbot's time includes verification, parsing, the pydantic job envelope, its JSON serialisation and the "
        "message attributes, i.e. everything SqsJobQueue.send does before botocore. Bolt lazy's includes its "
        "`json.dumps` of the whole event for the self-invocation.",
        "opsbot's time is `lambda_handler`'s work: `handle(...)` plus the AckLatency metric and the EMF flush "
        "(metrics enabled as on AWS, the JSON line written to /dev/null instead of Lambda's log pipe).",
    ]
    section.seconds = time.monotonic() - started
    return [section]
