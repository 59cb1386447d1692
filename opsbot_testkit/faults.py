"""Fault injection at every external call of the worker, on the wire: the fault proxy
(`infra.devstack.fault_proxy`) between the worker and moto, the local Slack API, CodeBuild and Jenkins.

A `FaultPlan` numbers the HTTP requests one delivery after another sends through the proxy, in order (each
attempt of an SDK call is a request of its own: botocore's, slack_sdk's and python-jenkins's retries go
through the proxy too), and faults exactly one of them:

- ``refuse before``: the connection is reset before anything reaches the target;
- ``error after``: the target acted, the worker reads a 503 instead of its answer;
- ``reset after``: the target acted, the connection is reset before the answer;
- ``timeout after``: the target acted, the answer never comes (the client's read timeout);
- ``kill after``: the target acted and the worker dies before it reads the answer, as a Lambda timeout or
  crash would: the connection is reset, and the worker's next request (an SDK's retry included) raises
  `WorkerKilled`, a BaseException that every `except Exception` lets through; nothing more leaves the dead
  worker until `revive()` (the next delivery, a new container).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from slack_sdk.webhook import WebhookClient

from infra.devstack.fault_proxy import Call
from infra.devstack.fault_proxy import Fault as WireFault
from worker_function.slack_http import PooledWebClient

#: Lines for the terminal summary (the harness's table), printed by `conftest.pytest_terminal_summary`.
REPORT: list[str] = []

When = Literal["before", "after"]
How = Literal["refuse", "error", "reset", "timeout", "kill"]


class WorkerKilled(BaseException):
    """The worker died here (Lambda timeout, out of memory): no handler of the worker may catch it."""


@dataclass(frozen=True)
class Fault:
    index: int
    when: When
    how: How

    @property
    def label(self) -> str:
        return f"{self.how} {self.when}"


@dataclass
class FaultPlan:
    """Numbers the requests at the proxy (`decide`) and faults the one `fault` names (once)."""

    fault: Fault | None = None
    calls: list[str] = field(default_factory=list)
    #: The body of each request in `calls` (a harness may choose its fault points by what a request writes).
    bodies: list[bytes] = field(default_factory=list)
    fired: bool = False
    dead: bool = False
    #: How long a `timeout` holds the answer back (longer than the worker's read timeout in the harness).
    hold_s: float = 10.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, call: Call) -> WireFault | None:
        """The proxy asks for every request: the fault to inflict on it, if any."""
        with self._lock:
            if self.dead:  # a dead worker sends nothing (its SDK's retries are stopped by `check_alive`)
                return WireFault("refuse", "before")
            index = len(self.calls)
            self.calls.append(call.name)
            self.bodies.append(call.body)
            fault = self.fault
            if fault is None or self.fired or fault.index != index:
                return None
            self.fired = True
            if fault.how == "kill":
                self.dead = True
                return WireFault("reset", "after")
        return WireFault(fault.how, fault.when, hold_s=self.hold_s)

    def check_alive(self, name: str = "") -> None:
        """Raise `WorkerKilled` when the worker died: called before anything leaves it."""
        if self.dead:
            raise WorkerKilled(f"dead worker called {name}")

    def reset(self, fault: Fault | None) -> None:
        """A new run: number the calls from 0 again, with `fault` to inject."""
        with self._lock:
            self.fault, self.calls, self.bodies, self.fired, self.dead = fault, [], [], False, False

    def revive(self) -> None:
        """A new delivery: a new (or the same, warm) container that is alive."""
        self.dead = False

    # -- where a dead worker is stopped (the faults themselves are on the wire) -----------------------------

    def hook_boto3(self, session: Any) -> None:
        """Register on a boto3 Session before any client is made: every attempt botocore sends (its retries
        included) first checks that the worker is alive."""

        def before_send(request: Any, **_: Any) -> None:
            self.check_alive(str(getattr(request, "url", "")))

        session.events.register("before-send", before_send)

    def jenkins(self, client: Any) -> Any:
        return _Jenkins(client, self)

    def web_client(self, **kwargs: Any) -> PooledWebClient:
        return _WebClient(plan=self, **kwargs)

    def webhook_factory(self, make: Callable[[str], WebhookClient]) -> Callable[[str], WebhookClient]:
        def factory(url: str) -> WebhookClient:
            client = make(url)
            return _Webhook(client, self)  # type: ignore[return-value]

        return factory


class _Jenkins:
    """python-jenkins whose calls stop once the worker is dead."""

    def __init__(self, client: Any, plan: FaultPlan) -> None:
        self._client, self._plan = client, plan

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self._plan.check_alive(f"jenkins.{name}")
            return method(*args, **kwargs)

        return call


class _WebClient(PooledWebClient):
    """The worker's WebClient (kept-alive connections), whose calls stop once the worker is dead (they all go
    through `api_call`)."""

    def __init__(self, *, plan: FaultPlan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._plan = plan

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        self._plan.check_alive(f"slack.{api_method}")
        return super().api_call(api_method, **kwargs)


class _Webhook:
    """A response_url client whose `send_dict` stops once the worker is dead."""

    def __init__(self, client: WebhookClient, plan: FaultPlan) -> None:
        self._client, self._plan = client, plan

    def send_dict(self, body: dict[str, Any], **kwargs: Any) -> Any:
        self._plan.check_alive("slack.response_url")
        return self._client.send_dict(body, **kwargs)


# -- counting at the target ------------------------------------------------------------------------


def moto_recorder(endpoint_url: str, action: str) -> None:
    """`reset-recording`, `start-recording` or `stop-recording` on moto's own request recorder."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/recorder/{action}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10):
        pass


def moto_requests(endpoint_url: str) -> list[dict[str, Any]]:
    """Every request moto received since the recording was reset, as moto recorded it."""
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/recorder/download-recording", timeout=10) as response:
        text = response.read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def moto_count(entries: list[dict[str, Any]], action: str, needle: str = "") -> int:
    """Requests for `action` (JSON `X-Amz-Target` or query `Action=`) whose body contains `needle`."""
    found = 0
    for entry in entries:
        headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        body = str(entry.get("body") or "")
        if entry.get("body_encoded"):
            import base64

            body = base64.b64decode(body).decode(errors="replace")
        named = headers.get("x-amz-target", "").endswith(f".{action}") or f"Action={action}" in body
        if named and needle in body:
            found += 1
    return found


def visible_final_messages(records: list[Any]) -> int:
    """Final messages the requester sees: a response_url message with `replace_original` and a chat.update
    take the place of the message they replace, so a repeat of either is still one message."""
    return len(visible_finals(records))


def visible_finals(records: list[Any]) -> list[Any]:
    """The records of the final messages the requester sees (`visible_final_messages`), in order."""
    slots: list[Any] = []
    by_key: dict[str, int] = {}
    by_ts: dict[str, int] = {}
    for record in records:
        if record.kind == "chat.update" and record.ts in by_ts:
            slots[by_ts[record.ts]] = record
            continue
        if record.kind == "response_url" and record.payload.get("replace_original") and record.key in by_key:
            slots[by_key[record.key]] = record
            continue
        slots.append(record)
        if record.key:
            by_key[record.key] = len(slots) - 1
        if record.ts:
            by_ts[record.ts] = len(slots) - 1
    return [record for record in slots if record.final]
