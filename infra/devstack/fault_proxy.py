"""Faults on the wire: a threaded HTTP reverse proxy in front of moto, the local Slack API, CodeBuild and Jenkins.

A fault injected here is below every SDK's own retry loop: botocore, slack_sdk and python-jenkins see exactly
what a lost network or a failing service would show them, and their retries come through the proxy again (and
are counted, and can be failed too). Each upstream gets its own front (`FaultProxy.front(name, url)`: a local
URL to give the client instead of the upstream's). Every request is a `Call`: the service (from the SigV4
credential scope, else the front's name), the action (`X-Amz-Target`, a query `Action=`, a Slack method, a
Jenkins path), the SDK's attempt number, and whether and how it was faulted.

The modes (`Mode`):

- ``refuse``: the connection is reset before anything is forwarded (the target never sees the request).
- ``error``: an error answer (503 by default) instead of the target's: ``after`` (the default) forwards first,
  so the target acted; ``before`` answers without forwarding. A JSON-protocol AWS call's answer names ``code``
  (default: ``ServiceUnavailableException`` for a 5xx, ``ValidationException`` otherwise, which no retry fixes);
  ``status=400,code=ThrottlingException`` throttles as AWS does (botocore retries it with backoff).
- ``reset``: the connection is reset after the target acted (``before``: without forwarding).
- ``timeout``: the request is forwarded and the answer held back until the client gives up (its read timeout).
- ``latency``: the answer comes, ``delay_s`` late.

Which calls a rule hits: a service and an action (`fnmatch` patterns; the action ``write`` stands for
DynamoDB's writes), the ``nth`` matching call only, at most ``times`` calls, and a time window: ``for_s``
seconds from when the rule was added, or from when its ``trigger`` call (``ecs.UpdateService``) was answered.
"DynamoDB writes fail for 8 s right after UpdateService" is
``Rule("error", service="dynamodb", action="write", for_s=8, trigger="ecs.UpdateService")``, and in the text
form `opsbot local --faults` and ``OPSBOT_FAULTS`` read:
``service=dynamodb,action=write,mode=error,for=8,trigger=ecs.UpdateService`` (rules separated by ``;``).

A test can also decide call by call (`FaultProxy.decide`): the fault harness numbers the calls this way.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import io
import json
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Mode = Literal["refuse", "error", "reset", "timeout", "latency"]
When = Literal["before", "after"]
MODES: tuple[Mode, ...] = ("refuse", "error", "reset", "timeout", "latency")

#: DynamoDB's writes, the action ``write`` in a rule.
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ATTEMPT = re.compile(r"attempt=(\d+)")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass(frozen=True)
class Fault:
    """What to do to one call."""

    mode: Mode
    when: When = "after"
    status: int = 503
    delay_s: float = 2.0
    #: How long a `timeout` holds the answer back at most (the client normally gives up first).
    hold_s: float = 30.0
    #: The error code an `error` answer names (JSON-protocol AWS calls); None: by the status.
    code: str | None = None


@dataclass
class Call:
    """One HTTP request through the proxy."""

    index: int
    front: str
    service: str
    action: str
    method: str
    path: str
    #: The SDK's attempt at this call (botocore's `amz-sdk-request`; 1 when the client does not say).
    attempt: int
    #: Same for every attempt of one SDK call (botocore's `amz-sdk-invocation-id`; else unique).
    invocation: str
    body: bytes = b""
    fault: Fault | None = None
    #: The target received the request (it may have acted).
    forwarded: bool = False
    status: int | None = None
    #: What the target answered (set once forwarded, even when the answer the client read was faulted).
    upstream_status: int | None = None
    at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return f"{self.service}.{self.action}"

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Rule:
    """Faults a set of calls (see the module's docstring)."""

    mode: Mode
    service: str = "*"
    action: str = "*"
    when: When | None = None
    nth: int | None = None
    times: int | None = None
    for_s: float | None = None
    trigger: str | None = None
    #: Only calls whose body contains this text (a table's name, a service's).
    body: str | None = None
    status: int = 503
    delay_s: float = 2.0
    hold_s: float = 30.0
    #: The error code an `error` answer names (JSON-protocol AWS calls), e.g. ``ThrottlingException``.
    code: str | None = None
    #: When the window opened (set when added, or when the trigger call was answered).
    opened_at: float | None = None
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r} (one of {', '.join(MODES)})")

    @property
    def fault(self) -> Fault:
        when: When = self.when or ("before" if self.mode in ("refuse", "latency") else "after")
        return Fault(self.mode, when, self.status, self.delay_s, self.hold_s, self.code)

    def hits(self, call: Call, now: float) -> bool:
        if not (fnmatch.fnmatch(call.service, self.service) and _action_matches(call.action, self.action)):
            return False
        if self.body is not None and self.body not in call.text:
            return False
        if self.opened_at is None or now < self.opened_at:
            return False
        if self.for_s is not None and now > self.opened_at + self.for_s:
            return False
        self.matched += 1
        if self.nth is not None and self.matched != self.nth:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True

    def answered(self, call: Call, now: float) -> None:
        """A call went through: it opens the window if it is this rule's trigger."""
        if self.trigger is None or self.opened_at is not None or not call.forwarded:
            return
        if fnmatch.fnmatch(call.name, self.trigger) or fnmatch.fnmatch(call.action, self.trigger):
            self.opened_at = now


def _action_matches(action: str, pattern: str) -> bool:
    if pattern == "write":
        return action in DYNAMODB_WRITES
    return any(fnmatch.fnmatch(action, p) for p in pattern.split("|"))


def parse_rules(text: str) -> list[Rule]:
    """Rules from their text form: ``key=value`` pairs separated by ``,``, rules by ``;``."""
    names = {"for": "for_s", "delay": "delay_s", "hold": "hold_s"}
    numbers = {"nth": int, "times": int, "status": int, "for_s": float, "delay_s": float, "hold_s": float}
    rules = []
    for chunk in filter(None, (c.strip() for c in text.split(";"))):
        values: dict[str, Any] = {}
        for pair in filter(None, (p.strip() for p in chunk.split(","))):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"a fault rule is key=value pairs, got {pair!r} in {chunk!r}")
            key = names.get(key.strip(), key.strip())
            value = value.strip().removesuffix("s") if key in ("for_s", "delay_s", "hold_s") else value.strip()
            if key not in Rule.__dataclass_fields__ or key in ("opened_at", "matched", "fired"):
                raise ValueError(f"unknown fault rule key {key!r} in {chunk!r}")
            values[key] = numbers[key](value) if key in numbers else value
        if "mode" not in values:
            raise ValueError(f"a fault rule needs mode= (one of {', '.join(MODES)}): {chunk!r}")
        rules.append(Rule(**values))
    return rules


class FaultProxy:
    """The fronts, their rules and the calls they saw. Thread-safe; `close()` stops every front."""

    def __init__(self, rules: list[Rule] | None = None, *, clock: Callable[[], float] = time.time) -> None:
        #: The seconds the rules' windows are measured in (a test may pass its own clock).
        self.clock = clock
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self.rules: list[Rule] = []
        self.calls: list[Call] = []
        #: Asked first for every call (None: the rules decide). The fault harness numbers calls with it.
        self.decide: Callable[[Call], Fault | None] | None = None
        #: Told every call once it is over (forwarded or not, faulted or not).
        self.observe: Callable[[Call], None] | None = None
        for rule in rules or []:
            self.add(rule)

    # -- configuration ---------------------------------------------------------------------------------

    def front(self, name: str, upstream: str) -> str:
        """Start a front for `upstream` (an http:// base URL); its URL, to use in the upstream's place."""
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the fault proxy fronts http:// URLs, not {upstream!r}")
        target = (parts.hostname, parts.port or 80)
        proxy = self

        class Handler(_ProxyHandler):
            pass

        Handler.proxy, Handler.front_name, Handler.upstream = proxy, name, target
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=f"fault-proxy-{name}", daemon=True).start()
        self._servers.append(server)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        return base + parts.path.rstrip("/") if parts.path not in ("", "/") else base

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            if rule.trigger is None and rule.opened_at is None:
                rule.opened_at = self.clock()
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """No rules, no decider, no calls recorded."""
        with self._lock:
            self.rules, self.calls, self.decide = [], [], None

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    # -- what tests read ---------------------------------------------------------------------------------

    def seen(self, action: str, *, service: str = "*", forwarded: bool = True, needle: str = "") -> list[Call]:
        """Calls of `action` (the target received them when `forwarded`) whose body contains `needle`."""
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if _action_matches(c.action, action)
            and fnmatch.fnmatch(c.service, service)
            and (c.forwarded or not forwarded)
            and needle in c.text
        ]

    # -- the handler's questions ---------------------------------------------------------------------------

    def _fault_for(self, call: Call) -> Fault | None:
        with self._lock:
            call.index = len(self.calls)
            self.calls.append(call)
            decide, rules = self.decide, list(self.rules)
        if decide is not None:
            decided = decide(call)
            if decided is not None:
                return decided
        now = self.clock()
        with self._lock:
            for rule in rules:
                if rule.hits(call, now):
                    return rule.fault
        return None

    def _forwarded(self, call: Call) -> None:
        """The target answered `call`: the windows it triggers open now, before its caller hears back (the
        caller's next call is inside them however long this thread waits for a core)."""
        now = self.clock()
        with self._lock:
            for rule in self.rules:
                rule.answered(call, now)

    def _done(self, call: Call) -> None:
        with self._lock:
            observe = self.observe
        if observe is not None:
            observe(call)


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    front_name: str
    upstream: tuple[str, int]
    protocol_version = "HTTP/1.1"
    #: The upstream connection of this client connection, kept between its requests (`_forward`).
    _upstream: http.client.HTTPConnection | None = None
    # One write per answer, sent at once: small writes would wait on delayed ACKs (Nagle), ~40 ms each.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        self._relay()

    def do_DELETE(self) -> None:
        self._relay()

    def do_HEAD(self) -> None:
        self._relay()

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        call = self._call(body)
        try:
            fault = self.proxy._fault_for(call)
            call.fault = fault
            if fault is not None and fault.when == "before" and fault.mode != "latency":
                self._inflict(fault, call)
                return
            if fault is not None and fault.mode == "latency":
                time.sleep(fault.delay_s)
            status, headers, answer = self._forward(body)
            call.forwarded, call.upstream_status = True, status
            self.proxy._forwarded(call)
            if fault is not None and fault.mode != "latency":
                self._inflict(fault, call)
                return
            call.status = status
            self._answer(status, headers, answer)
        finally:
            self.proxy._done(call)

    def _call(self, body: bytes) -> Call:
        headers = self.headers
        scope = _CREDENTIAL_SCOPE.search(headers.get("Authorization") or "")
        service = scope.group(1) if scope else self.front_name
        target = headers.get("X-Amz-Target") or ""
        action = target.rpartition(".")[2] if target else ""
        path = urlsplit(self.path).path
        if not action and body and "x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
            action = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
        if not action and service == "slack" and "/api/" in path:
            action = path.rpartition("/api/")[2]
        if not action:
            action = f"{self.command} {path}"
        attempt = _ATTEMPT.search(headers.get("amz-sdk-request") or "")
        invocation = headers.get("amz-sdk-invocation-id") or f"{id(self)}-{time.monotonic_ns()}"
        return Call(
            index=-1,
            front=self.front_name,
            service=service,
            action=action,
            method=self.command,
            path=self.path,
            attempt=int(attempt.group(1)) if attempt else 1,
            invocation=invocation,
            body=body,
        )

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream on this client connection's own upstream connection, kept alive while the
        upstream keeps it (moto does: a new connection per request would cost moto a thread each); a kept one
        the upstream closed while idle is replaced before anything is sent on it, never resent after."""
        connection = self._upstream
        if connection is not None and _dropped(connection):
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(*self.upstream, timeout=120)
            connection.connect()
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream = None
        # Host as the client sent it: it is part of what SigV4 signed (a target checking signatures would
        # refuse a rewritten one).
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.status, response.getheaders(), response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._upstream = connection
        return answer

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _inflict(self, fault: Fault, call: Call) -> None:
        if fault.mode == "error":
            call.status = fault.status
            self._answer(fault.status, *self._error_body(fault, call))
            return
        if fault.mode == "timeout":
            self._hold(fault.hold_s)
        self._reset()

    def _error_body(self, fault: Fault, call: Call) -> tuple[list[tuple[str, str]], bytes]:
        reason = f"injected by the fault proxy: {call.name}"
        if self.headers.get("X-Amz-Target"):
            kind = fault.code or ("ServiceUnavailableException" if fault.status >= 500 else "ValidationException")
            if kind == "ThrottlingException":
                reason = f"Rate exceeded ({reason})"
            body = json.dumps({"__type": kind, "message": reason}).encode()
            return [("Content-Type", "application/x-amz-json-1.0")], body
        if call.front == "slack":
            return [("Content-Type", "application/json")], json.dumps({"ok": False, "error": "fatal_error"}).encode()
        if call.service not in ("jenkins",) and call.method == "POST":
            xml = (
                "<Response><Errors><Error><Code>ServiceUnavailable</Code>"
                f"<Message>{reason}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
            )
            return [("Content-Type", "text/xml")], xml.encode()
        return [("Content-Type", "text/plain")], reason.encode()

    def _hold(self, seconds: float) -> None:
        """Answer nothing until the client closes the connection (its read timeout), at most `seconds`."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        poller = select.poll()  # not select.select: it refuses descriptors past 1024 (a long campaign's)
        poller.register(sock, select.POLLIN)
        while time.monotonic() < deadline:
            if poller.poll(50):
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return  # the client gave up
                except OSError:
                    return
                time.sleep(0.05)

    def _reset(self) -> None:
        """Close the client's connection with a TCP reset: the client sees "connection reset by peer"."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.wfile = io.BytesIO()  # what `finish()` flushes goes nowhere

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """A kept connection the upstream closed (or wrote to unasked) while it was idle: readable before a request."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()  # select.select refuses descriptors past 1024
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


__all__ = ["DYNAMODB_WRITES", "MODES", "Call", "Fault", "FaultProxy", "Rule", "parse_rules"]
