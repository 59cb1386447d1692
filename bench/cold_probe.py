"""A fresh "Lambda" process: import a handler (its cold start), answer the first request, then warm ones.

Run as a script by bench/cold.py, never imported: it loads nothing before its first timestamp but
`time`, so the parent can split the cold path into interpreter start, init and first request.

    python bench/cold_probe.py module <module> <events.json>  # the module's lambda_handler, real clients
    python bench/cold_probe.py inproc-opsbot <events.json>    # init as on Lambda, then opsbot on a recording queue
    python bench/cold_probe.py inproc-bolt <events.json>      # init as on Lambda, then Bolt lazy, recording client
    python bench/cold_probe.py restore <module> <forks> <events.json>  # SnapStart: init once, then fork per restore

Prints one JSON line: monotonic timestamps (ns, comparable with the parent's on Linux), the first
response, the warm request times (ms) and the process's peak RSS (VmHWM: `ru_maxrss` of a process started
by fork + exec reports the larger of its own peak and its parent's, so it read 77 MB for every variant).

`restore` emulates SnapStart: the module's init runs once in this process (with AWS_LAMBDA_INITIALIZATION_TYPE
=snap-start, `snapshot_restore_py` being bench/snapstart's stand-in), then the before-snapshot hooks; its RSS is
the snapshot's size. Each restore is a fork: the child runs the after-restore hooks, answers its first request
and its warm ones, and reports; the time counts from just before the fork.
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


def memory_kb(field: str, status_path: str = "/proc/self/status") -> int:
    """A `Vm*` line of /proc/<pid>/status in kB (VmHWM: peak resident set; VmRSS: now); 0 where there is none."""
    try:
        with open(status_path) as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _secret_round_trip_ms(n: int = 5) -> float:
    """Median ms of a GetSecretValue to AWS_ENDPOINT_URL on a kept-alive connection, not signed (moto checks no
    signature, but routes by the service its Authorization header's credential scope names, hence the header):
    the loopback round trip and moto's own time, what a restore's secret read spends outside opsbot's code."""
    import http.client
    import json
    from urllib.parse import urlsplit

    url = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    connection = http.client.HTTPConnection(url.netloc, timeout=5)
    body = json.dumps({"SecretId": os.environ["OPSBOT_SECRET_ARN"]})
    scope = f"{os.environ.get('AWS_ACCESS_KEY_ID', 'testing')}/20260101/{os.environ['AWS_REGION']}/secretsmanager"
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "secretsmanager.GetSecretValue",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}/aws4_request, SignedHeaders=host, Signature=00",
    }
    times = []
    for _ in range(n + 1):
        started = time.perf_counter_ns()
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        times.append((time.perf_counter_ns() - started) / 1e6)
        if response.status != 200:
            raise SystemExit(f"GetSecretValue answered {response.status}")
    connection.close()
    times = sorted(times[1:])
    return times[len(times) // 2]


def _requests(handler, events, context):
    """The first event's response and its ns timestamps, then the warm requests' ms."""
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
    return first, t_first, t_answered, warm


def _restore(module: str, forks: int, events: list, context) -> dict:
    """Init once (the snapshot), then `forks` restores one after another, each in a forked child."""
    import json

    t_import = time.monotonic_ns()
    handler = importlib.import_module(module).lambda_handler
    import snapshot_restore_py as hooks

    hooks.run_before_snapshot()
    t_imported = time.monotonic_ns()
    snapshot_kb = memory_kb("VmRSS")
    per = len(events) // forks
    restores = []
    for i in range(forks):
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        t_fork = time.monotonic_ns()
        pid = os.fork()
        if pid == 0:  # the restored sandbox
            os.close(read_fd)
            code = 0
            try:
                ran = hooks.run_after_restore()
                t_restored = time.monotonic_ns()
                first, t_first, t_answered, warm = _requests(handler, events[i * per : (i + 1) * per], context)
                out = {
                    "t_fork": t_fork,
                    "t_restored": t_restored,
                    "t_first": t_first,
                    "t_answered": t_answered,
                    "hooks": ran,
                    "status": first.get("statusCode"),
                    "body": str(first.get("body", ""))[:300],
                    "warm_ms": warm,
                    "peak_rss_kb": memory_kb("VmHWM"),
                }
                if os.environ.get("BENCH_SECRET_RTT"):
                    out["secret_rtt_ms"] = _secret_round_trip_ms()
            except BaseException as exc:  # reported to the parent, never raised past the fork
                out, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
            os.write(write_fd, json.dumps(out).encode())
            os.close(write_fd)
            os._exit(code)
        os.close(write_fd)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        result = json.loads(b"".join(chunks) or b'{"error": "no report"}')
        if "error" in result:
            raise SystemExit(f"restore {i} failed: {result['error']}")
        restores.append(result)
    return {
        "t_main": T_MAIN,
        "t_import": t_import,
        "t_imported": t_imported,
        "snapshot_rss_kb": snapshot_kb,
        "modules": len(sys.modules),
        "module_file": getattr(sys.modules[module], "__file__", ""),
        "restores": restores,
        "status": restores[0]["status"] if restores else None,
        "body": restores[0]["body"] if restores else "",
    }


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

    if mode == "restore":
        import json

        context = _Context(os.environ.get("BENCH_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:bench"))
        print(json.dumps(_restore(sys.argv[2], int(sys.argv[3]), json.loads(raw), context)))
        return

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

    first, t_first, t_answered, warm = _requests(handler, events, context)
    secret_rtt = _secret_round_trip_ms() if os.environ.get("BENCH_SECRET_RTT") else None

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
                "peak_rss_kb": memory_kb("VmHWM"),
                "module_file": getattr(sys.modules.get(sys.argv[2] if mode == "module" else ""), "__file__", ""),
                "secret_rtt_ms": secret_rtt,
            }
        )
    )


if __name__ == "__main__":
    main()
