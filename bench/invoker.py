"""The local stand-in for Lambda's invocation of a function: execution environments as processes.

A `Function` is a handler module, the interpreter and PYTHONPATH of its asset, and its environment. It is
invoked the way the benchmark's current `mode` says:

- `cold`: a fresh process per invocation (interpreter start, the module's init, then the invocation);
- `warm`: a process that already answered an invocation (one per concurrent invocation: a second one is started
  when the first is busy, as Lambda scales out);
- `restore`: SnapStart emulated: one process ran the init with AWS_LAMBDA_INITIALIZATION_TYPE=snap-start and the
  before-snapshot hooks; each invocation is a fork of it running the after-restore hooks, then the invocation.

Each process is bench/sandbox_probe.py. The same stand-in plays the SQS event source's invocations of opsbot's
worker (a handler the local stack's poller calls) and Bolt's lazy listener's self-invocation (`LambdaApi`: the
Lambda Invoke API on 127.0.0.1, `InvocationType=Event`: 202 at once, the invocation on a thread, as Lambda's
asynchronous invocation queue hands it to a sandbox).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

from bench.common import ROOT

PROBE = ROOT / "bench" / "sandbox_probe.py"
MODES = ("cold", "warm", "restore")


class InvocationError(RuntimeError):
    """The function raised, or its process died."""


@dataclass
class Invocation:
    """What one invocation reports: the handler's result and where the time went (monotonic ns)."""

    mode: str
    result: Any
    t_invoked: int
    t_start: int
    t_end: int
    #: The init's duration for a cold invocation (interpreter start to the module imported).
    init_ns: int = 0
    #: The after-restore hooks' duration for a restore (from just before the fork).
    restore_ns: int = 0
    peak_rss_kb: int = 0
    #: Wall-clock time of the invocation, and the SQS SentTimestamp of its first record (None for other events).
    wall_invoked: float = 0.0
    sent_at: float | None = None


class _Process:
    """One sandbox_probe process; `call` is one invocation (one at a time)."""

    def __init__(self, fn: Function, mode: str, log: IO[bytes] | int) -> None:
        self.t_spawn = time.monotonic_ns()
        env = dict(fn.env)
        if mode == "snapshot":
            env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
        self.process = subprocess.Popen(
            [fn.interpreter, str(PROBE), mode, fn.module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=fn.cwd,
            text=True,
        )
        self.ready = self._read()
        if not self.ready.get("ready"):
            raise InvocationError(f"{fn.module} did not start: {self.ready}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait(timeout=10)
            raise InvocationError(f"the sandbox process exited ({code}); see bench/out/bench.log")
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def call(self, event: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {"event": event, "request_id": str(uuid.uuid4()), "timeout_s": timeout_s}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Function:
    """A function's code and environment, and its sandboxes in the current mode."""

    name: str
    module: str
    interpreter: str
    env: dict[str, str]
    cwd: Path
    log: IO[bytes] | int = subprocess.DEVNULL
    timeout_s: float = 60.0
    mode: str = "warm"
    invocations: list[Invocation] = field(default_factory=list)
    _idle: list[_Process] = field(default_factory=list)
    _snapshot: _Process | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _snapshot_lock: threading.Lock = field(default_factory=threading.Lock)

    def set_mode(self, mode: str, *, warm_with: Callable[[], Mapping[str, Any]] | None = None, count: int = 1) -> None:
        """Switch modes. `warm` keeps `count` processes that each answered `warm_with()`; `restore` makes the
        snapshot process; `cold` needs nothing ready."""
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        if mode == "warm":
            with self._lock:
                while len(self._idle) < count:
                    process = _Process(self, "serve", self.log)
                    if warm_with is not None:
                        process.call(warm_with(), self.timeout_s)
                    self._idle.append(process)
        if mode == "restore" and self._snapshot is None:
            self._snapshot = _Process(self, "snapshot", self.log)

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> Any:
        """Invoke the function with `event` (a Lambda handler's signature, for the local stack's poller)."""
        return self.invoke(event).result

    def invoke(self, event: Mapping[str, Any]) -> Invocation:
        t_invoked, wall_invoked = time.monotonic_ns(), time.time()
        init_ns = 0
        if self.mode == "restore":
            assert self._snapshot is not None, "set_mode('restore') first"
            with self._snapshot_lock:  # one fork at a time; each child answers before the next fork
                out = self._snapshot.call(event, self.timeout_s)
            invocation = Invocation("restore", out.get("result"), t_invoked, out.get("t_start", 0), out.get("t_end", 0))
            invocation.restore_ns = out.get("t_restored", 0) - out.get("t_fork", 0)
        else:
            process = None
            if self.mode == "warm":
                with self._lock:
                    process = self._idle.pop() if self._idle else None
            if process is None:  # cold, or every warm sandbox busy: a cold start, as Lambda scales out
                process = _Process(self, "serve", self.log)
                init_ns = process.ready["t_imported"] - process.t_spawn
            try:
                out = process.call(event, self.timeout_s)
            finally:
                if self.mode == "warm":
                    with self._lock:
                        self._idle.append(process)
                else:
                    process.close()
            invocation = Invocation(self.mode, out.get("result"), t_invoked, out["t_start"], out["t_end"], init_ns)
        invocation.peak_rss_kb = int(out.get("peak_rss_kb") or 0)
        invocation.wall_invoked = wall_invoked
        records = event.get("Records") if isinstance(event, Mapping) else None
        if records and "SentTimestamp" in (records[0].get("attributes") or {}):
            invocation.sent_at = int(records[0]["attributes"]["SentTimestamp"]) / 1000
        with self._lock:
            self.invocations.append(invocation)
        if out.get("error"):
            raise InvocationError(f"{self.name}: {out['error']}")
        return invocation

    def close(self) -> None:
        with self._lock:
            processes, self._idle = self._idle, []
        if self._snapshot is not None:
            processes.append(self._snapshot)
            self._snapshot = None
        for process in processes:
            process.close()


class LambdaApi:
    """Lambda's Invoke API (`POST /2015-03-31/functions/<name>/invocations`) on 127.0.0.1 for the functions
    given: `Event` invocations answer 202 at once and run on a thread; `RequestResponse` ones answer the result.
    boto3 reaches it through AWS_ENDPOINT_URL_LAMBDA."""

    def __init__(self, functions: Mapping[str, Function]) -> None:
        from infra.devstack._http import BackgroundServer  # the local stack's own HTTP server

        self.functions = dict(functions)
        self.errors: list[str] = []
        self._server = BackgroundServer(self._handle, keep_alive=True)

    def _handle(self, request: Any) -> Any:
        from infra.devstack._http import Response

        parts = request.path.split("?")[0].strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["2015-03-31", "functions"] or parts[3] != "invocations":
            return Response(404, b'{"message": "not found"}', {"Content-Type": "application/json"})
        name = unquote(parts[2])  # a name, or an ARN arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]
        name = name.split(":")[6] if name.startswith("arn:") else name.split(":")[0]
        fn = self.functions.get(name)
        if fn is None:
            return Response(404, b'{"Type": "User", "message": "Function not found"}', {})
        event = json.loads(request.body or b"{}")
        kind = request.header("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "Event":
            threading.Thread(target=self._run, args=(fn, event), daemon=True).start()
            return Response(202, b"", {"Content-Type": "application/json"})
        result = fn.invoke(event).result
        return Response(200, json.dumps(result).encode(), {"Content-Type": "application/json"})

    def _run(self, fn: Function, event: Any) -> None:
        try:
            fn.invoke(event)
        except Exception as exc:  # an asynchronous invocation's error is Lambda's to log, not the caller's
            self.errors.append(f"{type(exc).__name__}: {exc}")

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> LambdaApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
