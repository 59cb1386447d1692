"""Fault injection at every external call of the worker: AWS (botocore hooks), Jenkins and Slack (wrappers).

A `FaultPlan` numbers the calls one delivery after another makes, in order, and fails or kills the worker at
exactly one of them: before the call leaves, or after it returned (the target acted) but before the worker
saw the answer. A failure is an exception like the real one: connection refused before, read timeout after. A kill is a
`WorkerKilled`, a BaseException that every `except Exception` lets through, as a Lambda timeout or crash
would; after it, nothing more leaves the dead worker until `revive()` (the next delivery, a new container).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from slack_sdk.webhook import WebhookClient

from worker_function.slack_http import PooledWebClient

#: Lines for the terminal summary (the harness's table), printed by `conftest.pytest_terminal_summary`.
REPORT: list[str] = []

When = Literal["before", "after"]
How = Literal["fail", "kill"]


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
    """Numbers the external calls and injects `fault` at one of them (once)."""

    fault: Fault | None = None
    calls: list[str] = field(default_factory=list)
    fired: bool = False
    dead: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, name: str, *, aws: bool = False) -> int:
        with self._lock:
            if self.dead:
                raise WorkerKilled(f"dead worker called {name}")
            index = len(self.calls)
            self.calls.append(name)
        self._inject(index, "before", name, aws)
        return index

    def after(self, index: int, *, aws: bool = False) -> None:
        self._inject(index, "after", self.calls[index], aws)

    def reset(self, fault: Fault | None) -> None:
        """A new run: number the calls from 0 again, with `fault` to inject."""
        with self._lock:
            self.fault, self.calls, self.fired, self.dead = fault, [], False, False

    def revive(self) -> None:
        """A new delivery: a new (or the same, warm) container that is alive."""
        self.dead = False

    def _inject(self, index: int, when: When, name: str, aws: bool) -> None:
        fault = self.fault
        if fault is None or self.fired or fault.index != index or fault.when != when:
            return
        self.fired = True
        if fault.how == "kill":
            self.dead = True
            raise WorkerKilled(f"killed {when} call {index} ({name})")
        if aws:
            raise (EndpointConnectionError if when == "before" else ReadTimeoutError)(endpoint_url=f"injected:{name}")
        if when == "before":  # nothing was sent: as urllib reports a refused connection
            raise urllib.error.URLError(ConnectionRefusedError(f"injected before call {index} ({name})"))
        raise TimeoutError(f"injected: the read timed out after call {index} ({name}) was sent")

    # -- where the plan hooks in -----------------------------------------------------------------

    def hook_boto3(self, session: Any) -> None:
        """Register on a boto3 Session before any client is made (clients copy the session's hooks)."""

        def before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
            name = f"{model.service_model.service_name}.{model.name}"
            context["fault_index"] = self.before(name, aws=True)

        def after_call(context: dict[str, Any], **_: Any) -> None:
            if "fault_index" in context:
                self.after(context["fault_index"], aws=True)

        session.events.register("before-call", before_call)
        session.events.register("after-call", after_call)

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
    """python-jenkins with every public call numbered (its own internal calls are not ours)."""

    def __init__(self, client: Any, plan: FaultPlan) -> None:
        self._client, self._plan = client, plan

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            index = self._plan.before(f"jenkins.{name}")
            result = method(*args, **kwargs)
            self._plan.after(index)
            return result

        return call


class _WebClient(PooledWebClient):
    """The worker's WebClient (kept-alive connections) with every Web API method numbered (they all go through
    `api_call`)."""

    def __init__(self, *, plan: FaultPlan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._plan = plan

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        index = self._plan.before(f"slack.{api_method}")
        result = super().api_call(api_method, **kwargs)
        self._plan.after(index)
        return result


class _Webhook:
    """A response_url client with `send_dict` numbered."""

    def __init__(self, client: WebhookClient, plan: FaultPlan) -> None:
        self._client, self._plan = client, plan

    def send_dict(self, body: dict[str, Any], **kwargs: Any) -> Any:
        index = self._plan.before("slack.response_url")
        result = self._client.send_dict(body, **kwargs)
        self._plan.after(index)
        return result


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
    slots: list[bool] = []
    by_key: dict[str, int] = {}
    by_ts: dict[str, int] = {}
    for record in records:
        if record.kind == "chat.update" and record.ts in by_ts:
            slots[by_ts[record.ts]] = record.final
            continue
        if record.kind == "response_url" and record.payload.get("replace_original") and record.key in by_key:
            slots[by_key[record.key]] = record.final
            continue
        slots.append(record.final)
        if record.key:
            by_key[record.key] = len(slots) - 1
        if record.ts:
            by_ts[record.ts] = len(slots) - 1
    return sum(slots)
