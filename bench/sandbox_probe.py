"""One Lambda execution environment, as a process: bench/invoker.py's stand-in for Lambda's runtime.

Run as a script, never imported (it loads nothing before its first timestamp but `time`):

    python bench/sandbox_probe.py serve <module>      # init (a cold start), then one invocation per request
    python bench/sandbox_probe.py snapshot <module>   # init once, before-snapshot hooks; each request a restore

The parent writes one JSON line per invocation on stdin (`{"event": ..., "request_id": ...}`) and reads one
JSON line per answer from the protocol pipe (the process's original stdout); the function's own output (the
Powertools JSON logs, EMF metrics) goes to stderr, as Lambda sends it to CloudWatch. The first line out is
`{"ready": ...}` with the init's timestamps (monotonic ns, comparable with the parent's on Linux).

`snapshot` emulates SnapStart as bench/cold_probe.py does: the module's init runs with
AWS_LAMBDA_INITIALIZATION_TYPE=snap-start (the parent sets it) and `snapshot_restore_py` is bench/snapstart's
stand-in; each request forks a child that runs the after-restore hooks, then the invocation, answers and exits.
"""

import time

T_MAIN = time.monotonic_ns()

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


class Context:
    """The Lambda context object (what Powertools' logger and idempotency read)."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench-function")
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "bench"
    function_version = "1"

    def __init__(self, request_id: str, timeout_s: float) -> None:
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def memory_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def invoke(handler, request: dict) -> dict:
    context = Context(str(request.get("request_id", "bench")), float(request.get("timeout_s", 60)))
    started = time.monotonic_ns()
    try:
        result, error = handler(request["event"], context), None
    except Exception as exc:  # Lambda reports a function error; so does the stand-in
        result, error = None, f"{type(exc).__name__}: {exc}"
    return {"t_start": started, "t_end": time.monotonic_ns(), "result": result, "error": error}


def main() -> None:
    mode, module = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        sys.path.pop(0)  # bench/ itself shadows nothing
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the function's stdout (logs, metrics) goes where its stderr goes
    sys.stdout = os.fdopen(1, "w", buffering=1)
    t_import = time.monotonic_ns()
    handler = importlib.import_module(module).lambda_handler
    hooks = None
    if mode == "snapshot":
        import snapshot_restore_py as hooks

        hooks.run_before_snapshot()
    t_imported = time.monotonic_ns()
    ready = {
        "ready": True,
        "t_main": T_MAIN,
        "t_import": t_import,
        "t_imported": t_imported,
        "modules": len(sys.modules),
        "rss_kb": memory_kb("VmRSS"),
        "pid": os.getpid(),
        # The process's CPU time so far (user + system: interpreter start, import, init): it moves less than the
        # wall time when other work shares the machine.
        "cpu_ms": time.process_time() * 1000,
    }
    protocol.write(json.dumps(ready) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if hooks is None:
            protocol.write(json.dumps({**invoke(handler, request), "peak_rss_kb": memory_kb("VmHWM")}) + "\n")
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        t_fork = time.monotonic_ns()
        pid = os.fork()
        if pid == 0:  # the restored copy: hooks, one invocation, its answer, gone
            code = 0
            try:
                hooks.run_after_restore()
                t_restored = time.monotonic_ns()
                out = {**invoke(handler, request), "t_fork": t_fork, "t_restored": t_restored}
                out["peak_rss_kb"] = memory_kb("VmHWM")
            except BaseException as exc:
                out, code = {"error": f"after restore: {type(exc).__name__}: {exc}", "result": None}, 1
            protocol.write(json.dumps(out) + "\n")
            protocol.flush()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
