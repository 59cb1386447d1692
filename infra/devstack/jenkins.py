"""A local Jenkins: the REST endpoints python-jenkins calls to run a job and follow it.

    GET  /crumbIssuer/api/json                    the CSRF crumb (POSTs without it get 403)
    POST /job/<name>/build, /buildWithParameters  201, Location: <url>/queue/item/<n>/
    GET  /queue/item/<n>/api/json                 `why` while queued, then `executable` {number, url}
    GET  /job/<name>/<number>/api/json            building, result, duration, url
    POST /queue/cancelItem?id=<n>                 cancel a queued item (204)
    POST /job/<name>/<number>/stop                stop a running build: it ends ABORTED

Every call needs HTTP basic auth with the user's API token (401 otherwise). Jobs are scripted: how long
they wait in the queue, how long they build and how they end; time comes from `clock`.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from infra.devstack._http import BackgroundServer, Request, Response, json_response, text_response

CRUMB_FIELD = "Jenkins-Crumb"


@dataclass
class JobScript:
    queue_s: float = 1.0
    build_s: float = 5.0
    result: str = "SUCCESS"


@dataclass
class QueuedBuild:
    item: int
    job: str
    parameters: dict[str, str]
    queued_at: float
    number: int
    script: JobScript
    cancelled: bool = False
    #: When a stop request ended the build (it is ABORTED from then on).
    stopped_at: float | None = None


@dataclass
class Call:
    method: str
    path: str
    status: int
    crumb: bool = field(default=False)


class JenkinsServer:
    """The local Jenkins (a context manager). `queued` lists every build asked for, in order."""

    def __init__(
        self,
        *,
        port: int = 0,
        user: str = "opsbot",
        token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user = user
        self.token = token or secrets.token_hex(16)
        self.clock = clock
        self.jobs: dict[str, JobScript] = {}
        self.queued: list[QueuedBuild] = []
        self.calls: list[Call] = []
        self._crumb = secrets.token_hex(8)
        self._items = itertools.count(100)
        self._numbers: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()
        self._server = BackgroundServer(self.handle, port=port)

    @property
    def url(self) -> str:
        return self._server.url + "/"

    def start(self) -> JenkinsServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> JenkinsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_job(self, name: str, *, queue_s: float = 1.0, build_s: float = 5.0, result: str = "SUCCESS") -> None:
        with self._lock:
            self.jobs[name] = JobScript(queue_s=queue_s, build_s=build_s, result=result)
            self._numbers.setdefault(name, itertools.count(1))

    def cancel(self, item: int) -> None:
        with self._lock:
            next(q for q in self.queued if q.item == item).cancelled = True

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        response = self._route(request)
        with self._lock:
            self.calls.append(Call(request.method, request.path, response.status, bool(request.header(CRUMB_FIELD))))
        return response

    def _route(self, request: Request) -> Response:
        if not self._authorized(request):
            return text_response("Unauthorized", 401, {"WWW-Authenticate": 'Basic realm="Jenkins"'})
        path = request.path.rstrip("/")
        if path == "/crumbIssuer/api/json":
            return json_response({"crumb": self._crumb, "crumbRequestField": CRUMB_FIELD})
        if request.method == "POST" and request.header(CRUMB_FIELD) != self._crumb:
            return text_response("No valid crumb was included in the request", 403)
        if path == "/queue/api/json":
            return self._queue()
        if request.method == "POST" and path == "/queue/cancelItem":
            return self._cancel_item(request)
        if path.startswith("/queue/item/") and path.endswith("/api/json"):
            return self._queue_item(int(path.split("/")[3]))
        segments = [unquote(s) for s in path.strip("/").split("/")]
        # /job/a/job/b/<rest>: the job's full name is a/b
        names = []
        while len(segments) >= 2 and segments[0] == "job":
            names.append(segments[1])
            segments = segments[2:]
        if not names:
            return text_response("Not Found", 404)
        job = "/".join(names)
        with self._lock:
            script = self.jobs.get(job)
        if script is None:
            return text_response("Not Found", 404)
        if request.method == "POST" and segments in (["build"], ["buildWithParameters"]):
            parameters = {k: v[0] for k, v in parse_qs(request.raw_query).items()}
            if request.body:
                parameters.update({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
            return self._enqueue(job, script, parameters)
        if request.method == "GET" and segments == ["api", "json"]:
            return self._job_info(job)
        if request.method == "GET" and len(segments) == 3 and segments[1:] == ["api", "json"]:
            return self._build_info(job, int(segments[0]))
        if request.method == "POST" and len(segments) == 2 and segments[1] == "stop" and segments[0].isdigit():
            return self._stop(job, int(segments[0]))
        return text_response("Not Found", 404)

    def _authorized(self, request: Request) -> bool:
        auth = request.header("authorization")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, token = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, self.user) and secrets.compare_digest(token, self.token)

    def _job_url(self, job: str) -> str:
        return self.url + "".join(f"job/{part}/" for part in job.split("/"))

    def _enqueue(self, job: str, script: JobScript, parameters: dict[str, str]) -> Response:
        with self._lock:
            item = next(self._items)
            self.queued.append(
                QueuedBuild(item, job, parameters, self.clock(), next(self._numbers[job]), script=script)
            )
        return Response(201, b"", {"Location": f"{self.url}queue/item/{item}/"})

    def _queue(self) -> Response:
        """The items still waiting, with their parameters (as Jenkins's ParametersAction)."""
        with self._lock:
            waiting = [q for q in self.queued if not q.cancelled and self.clock() < q.queued_at + q.script.queue_s]
        items = [
            {"id": q.item, "task": {"name": q.job, "url": self._job_url(q.job)}, "actions": _actions(q.parameters)}
            for q in waiting
        ]
        return json_response({"items": items})

    def _job_info(self, job: str) -> Response:
        """The job's builds that have started, newest first."""
        with self._lock:
            started = [
                q
                for q in self.queued
                if q.job == job and not q.cancelled and self.clock() >= q.queued_at + q.script.queue_s
            ]
        builds = [{"number": q.number, "url": f"{self._job_url(job)}{q.number}/"} for q in reversed(started)]
        return json_response({"name": job, "builds": builds})

    def _queue_item(self, item: int) -> Response:
        with self._lock:
            queued = next((q for q in self.queued if q.item == item), None)
        if queued is None:
            return text_response("Not Found", 404)
        body: dict[str, Any] = {"id": item, "task": {"name": queued.job, "url": self._job_url(queued.job)}}
        if queued.cancelled:
            body["cancelled"] = True
        elif self.clock() < queued.queued_at + queued.script.queue_s:
            body["why"] = "Waiting for next available executor"
            body["blocked"] = False
        else:
            body["executable"] = {"number": queued.number, "url": f"{self._job_url(queued.job)}{queued.number}/"}
        return json_response(body)

    def _cancel_item(self, request: Request) -> Response:
        """Jenkins answers a cancel with a redirect or 204; an unknown or started item changes nothing."""
        try:
            item = int(request.query.get("id") or "")
        except ValueError:
            return text_response("Bad Request", 400)
        with self._lock:
            for queued in self.queued:
                if queued.item == item and self.clock() < queued.queued_at + queued.script.queue_s:
                    queued.cancelled = True
        return Response(204, b"", {})

    def _stop(self, job: str, number: int) -> Response:
        """A running build ends ABORTED now; a build that has ended stays as it ended."""
        with self._lock:
            queued = next((q for q in self.queued if q.job == job and q.number == number and not q.cancelled), None)
            if queued is None:
                return text_response("Not Found", 404)
            started = queued.queued_at + queued.script.queue_s
            running = started <= self.clock() < started + queued.script.build_s
            if running and queued.stopped_at is None:
                queued.stopped_at = self.clock()
        return Response(200, b"", {})  # Jenkins redirects to the build's page; requests would follow it

    def _build_info(self, job: str, number: int) -> Response:
        with self._lock:
            queued = next((q for q in self.queued if q.job == job and q.number == number and not q.cancelled), None)
        if queued is None:
            return text_response("Not Found", 404)
        started = queued.queued_at + queued.script.queue_s
        if self.clock() < started:
            return text_response("Not Found", 404)
        ended = started + queued.script.build_s if queued.stopped_at is None else queued.stopped_at
        done = self.clock() >= ended
        result = "ABORTED" if queued.stopped_at is not None else queued.script.result
        return json_response(
            {
                "number": number,
                "url": f"{self._job_url(job)}{number}/",
                "building": not done,
                "result": result if done else None,
                "timestamp": int(started * 1000),
                "duration": int((ended - started) * 1000) if done else 0,
                "actions": _actions(queued.parameters),
            }
        )


def _actions(parameters: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "_class": "hudson.model.ParametersAction",
            "parameters": [{"name": k, "value": v} for k, v in parameters.items()],
        }
    ]
