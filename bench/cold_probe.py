"""A fresh "Lambda" process: import a handler (its cold start), answer the first request, then warm ones.

Run as a script by bench/cold.py, never imported: it loads nothing before its first timestamp but
`time`, so the parent can split the cold path into interpreter start, init and first request.

    python bench/cold_probe.py module <module> <events.json>  # the module's lambda_handler, real clients
    python bench/cold_probe.py inproc-opsbot <events.json>    # init as on Lambda, then opsbot on a recording queue
    python bench/cold_probe.py inproc-bolt <events.json>      # init as on Lambda, then Bolt lazy, recording client

Prints one JSON line: monotonic timestamps (ns, comparable with the parent's on Linux), the first
response, the warm request times (ms) and the process's peak RSS.
"""

import time

T_MAIN = time.monotonic_ns()

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


class _Context:
    function_name = "bench-ack"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 512

    def __init__(self, arn: str) -> None:
        self.invoked_function_arn = arn

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class _RecordingSqs:
    def __init__(self) -> None:
        self.sent = 0

    def send_message(self, **kwargs):
        self.sent += 1
        return {"MessageId": f"m-{self.sent}"}


class _RecordingLambda:
    def __init__(self) -> None:
        self.invoked = 0

    def invoke(self, **kwargs):
        self.invoked += 1
        return {"StatusCode": 202}


def _inproc_opsbot():
    importlib.import_module("ack_function.handler")  # the whole cold start, clients included
    from ack_function.handler import handle
    from bench.common import build_opsbot_handler
    from shared.queue import SqsJobQueue

    queue = SqsJobQueue(os.environ["JOBS_QUEUE_URL"], client=_RecordingSqs())
    handler = build_opsbot_handler(queue, os.environ["SLACK_SIGNING_SECRET"])
    return lambda event, context: handle(handler, event, context)


def _inproc_bolt():
    importlib.import_module("bench.baselines.bolt_lazy_lambda")  # the whole cold start, Lambda client included
    from bench.baselines.bolt_lazy import build_app, build_handler

    handler = build_handler(build_app(os.environ["SLACK_SIGNING_SECRET"]), _RecordingLambda())
    return handler.handle


def main() -> None:
    mode = sys.argv[1]
    events_path = sys.argv[-1]
    with open(events_path, "rb") as handle:
        raw = handle.read()
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        sys.path.pop(0)  # bench/ itself: its modules must shadow nothing
    # Last, so a PYTHONPATH overlay (the no-.pyc variant) wins; the repo is where ack_function and bench live.
    sys.path.append(os.path.dirname(here))

    t_import = time.monotonic_ns()
    if mode == "module":
        handler = importlib.import_module(sys.argv[2]).lambda_handler
    elif mode == "inproc-opsbot":
        handler = _inproc_opsbot()
    elif mode == "inproc-bolt":
        handler = _inproc_bolt()
    else:
        raise SystemExit(f"unknown mode {mode}")
    t_imported = time.monotonic_ns()

    import json  # already loaded by every handler

    events = json.loads(raw)
    context = _Context(os.environ.get("BENCH_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:bench"))

    t_first = time.monotonic_ns()
    first = handler(events[0], context)
    t_answered = time.monotonic_ns()

    warm = []
    for event in events[1:]:
        started = time.perf_counter_ns()
        response = handler(event, context)
        warm.append((time.perf_counter_ns() - started) / 1e6)
        if response.get("statusCode") != 200:
            raise SystemExit(f"warm request answered {response}")

    import resource

    print(
        json.dumps(
            {
                "t_main": T_MAIN,
                "t_import": t_import,
                "t_imported": t_imported,
                "t_first": t_first,
                "t_answered": t_answered,
                "status": first.get("statusCode"),
                "body": str(first.get("body", ""))[:300],
                "warm_ms": warm,
                "modules": len(sys.modules),
                "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
