"""A chaos worker: one Lambda container built as the Lambda builds it, under the worker's role, with its own fault
proxy in front of every service it calls (faults on the wire, below the SDKs' retries), its own clock skew, killed
at a call when the schedule says so. Each side effect is counted where the target received it (forwarded, and the
target answered 2xx) and attributed to the job of the delivery that sent it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from infra.devstack.demo import (
    MIGRATION_PROJECT,
    REGRESSION_PROJECT,
)
from infra.devstack.fault_proxy import Call, FaultProxy
from infra.devstack.fault_proxy import Fault as WireFault
from tests.chaos.schedule import TICK_S
from tests.chaos.stack import READ_TIMEOUT_S
from tests.fakes import FakeLambdaContext
from tests.integration.faults import WorkerKilled
from worker_function.app import build_alarm_feed, build_deferrals, build_dispatcher
from worker_function.clients import AwsClients, jenkins_client, slack_retry_handlers
from worker_function.pacing import handle_message
from worker_function.slack_http import PooledWebClient, PooledWebhookClient

if TYPE_CHECKING:
    from tests.chaos.world import Run

_EFFECT_CALLS = ("ecs.UpdateService", "ec2.RebootInstances", "codebuild.StartBuild", "codebuild.StopBuild")
_JENKINS_BUILD = re.compile(r"^POST /job/.*/build(WithParameters)?$")
_SHORT_ID = re.compile(r"job `([0-9a-f]{8})`")

# -- a worker ------------------------------------------------------------------------------------------------


class _Dead(Exception):
    pass


class ChaosWorker:
    """One Lambda container: its own fault proxy in front of AWS, Slack, CodeBuild and Jenkins, its own clock
    skew, its faults decided from the schedule call by call."""

    def __init__(self, run: Run, index: int) -> None:
        self.run, self.index = run, index
        stack = run.stack
        self.skew = run.schedule.skews[index]
        self.proxy = proxy = FaultProxy()
        self.fronts = {
            "aws": proxy.front("aws", stack.moto.endpoint_url),
            "slack": proxy.front("slack", stack.slack.url),
            "codebuild": proxy.front("codebuild", stack.codebuild.url),
            "jenkins": proxy.front("jenkins", stack.jenkins.url),
        }
        proxy.decide = self.decide
        proxy.observe = self.observe
        self.settings = stack.harness.settings(
            aws_endpoint_url=self.fronts["aws"],
            slack_api_url=f"{self.fronts['slack']}/api/",
            service_endpoints={"codebuild": self.fronts["codebuild"], "codepipeline": self.fronts["codebuild"]},
            jenkins_url=self.fronts["jenkins"],
            poll_interval_s=TICK_S,
            inline_wait_s=0,
        )
        #: The delivery running now (a worker runs one at a time): its job, its random stream, where it dies.
        self.job = ""
        self.calls = 0
        self.kill_at: int | None = None
        #: One fault of this delivery: (call number, mode, when).
        self.point: tuple[int, str, str] | None = None
        self.dead = False
        self.rng = run.schedule.rng("worker", index)
        self._dispatcher: Any = None

    # -- the wire

    def decide(self, call: Call) -> WireFault | None:
        if self.dead:
            return WireFault("refuse", "before")
        self.calls += 1
        # The job this request is for: its answer may come after the delivery gave up on it (a read timeout), when
        # this worker already runs another job.
        call.chaos_job = self.job  # type: ignore[attr-defined]
        if self.kill_at is not None and self.calls >= self.kill_at:
            self.dead = True
            self.run.history.add("kill", self.run.now(), job=self.job, worker=self.index, call=call.name)
            return WireFault("reset", "after")
        if self.point is not None and self.calls == self.point[0]:
            mode, when = self.point[1], self.point[2]
            return self._fault(call, mode, when, delay_s=0.1)
        tick = self.run.stack.sim.tick
        for window in self.run.schedule.windows:
            hit = window.start <= tick <= window.end and call.service == window.service
            if hit and self.rng.random() < window.rate:
                return self._fault(call, window.mode, window.when, delay_s=window.delay_s)
        return None

    def _fault(self, call: Call, mode: str, when: str, *, delay_s: float) -> WireFault:
        self.run.faults += 1
        self.run.history.add(
            "fault", self.run.now(), job=self.job, worker=self.index, call=call.name, mode=mode, when=when
        )
        return WireFault(mode, when, delay_s=delay_s, hold_s=READ_TIMEOUT_S + 2)  # type: ignore[arg-type]

    def observe(self, call: Call) -> None:
        if not call.forwarded or call.upstream_status is None or not 200 <= call.upstream_status < 300:
            return
        what, target = _effect_of(call)
        if what:
            # What Slack and the leases table show up to now is recorded first: the history's order is the
            # order things happened in, even with deliveries in parallel (a job's final message, its lease
            # released, before another job's side effect on the same target).
            self.run.observe_now()
            job = getattr(call, "chaos_job", self.job)
            self.run.history.add("effect", self.run.now(), job=job, target=target, what=what, worker=self.index)
            self.run.effects[what] = self.run.effects.get(what, 0) + 1

    def check_alive(self, name: str = "") -> None:
        if self.dead:
            raise WorkerKilled(f"dead worker called {name}")

    # -- the function

    def now(self) -> Any:
        return self.run.stack.sim.clock.now() + timedelta(seconds=self.skew)

    def dispatcher(self) -> Any:
        """The container's dispatcher (a new one after a kill: a new container)."""
        if self._dispatcher is None:
            self._dispatcher = self._build()
        return self._dispatcher

    def _build(self) -> Any:
        stack, settings = self.run.stack, self.settings
        session = stack.harness.worker_session()

        def before_send(request: Any, **_: Any) -> None:
            self.check_alive(str(getattr(request, "url", "")))

        session.events.register("before-send", before_send)
        aws = AwsClients(settings, session=session, overrides=Config(read_timeout=READ_TIMEOUT_S, connect_timeout=1))
        worker = self

        class Web(PooledWebClient):
            def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
                worker.check_alive(f"slack.{api_method}")
                return super().api_call(api_method, **kwargs)

        web = Web(
            token="xoxb-test",
            base_url=settings.slack_api_url,
            timeout=READ_TIMEOUT_S,
            retry_handlers=slack_retry_handlers(settings.slack_max_retries),
        )

        class Hook:
            def __init__(self, url: str) -> None:
                front = url.replace(stack.slack.url, worker.fronts["slack"], 1)
                self.client = PooledWebhookClient(
                    front, timeout=READ_TIMEOUT_S, retry_handlers=slack_retry_handlers(2), pool=web.pool
                )

            def send_dict(self, body: dict[str, Any], **kwargs: Any) -> Any:
                worker.check_alive("slack.response_url")
                return self.client.send_dict(body, **kwargs)

        class Jenkins:
            def __init__(self) -> None:
                self.client = jenkins_client(settings)
                self.client.timeout = READ_TIMEOUT_S

            def __getattr__(self, name: str) -> Any:
                method = getattr(self.client, name)
                if not callable(method):
                    return method

                def call(*args: Any, **kwargs: Any) -> Any:
                    worker.check_alive(f"jenkins.{name}")
                    return method(*args, **kwargs)

                return call

        dispatcher = build_dispatcher(
            settings,
            aws=aws,
            inventory=self.run.inventory,
            now=self.now,
            jenkins=Jenkins,
            web=web,
            webhook=Hook,  # type: ignore[arg-type]
        )
        alarms = dataclasses.replace(build_alarm_feed(settings, dispatcher), now=lambda: self.now().timestamp())
        return dispatcher, alarms, build_deferrals(settings, dispatcher)

    def deliver(
        self, message: dict[str, Any], *, kill_at: int | None, point: tuple[int, str, str] | None = None
    ) -> str:
        """One delivery of `message`: ok (delete it), failed (SQS delivers it again) or killed."""
        body = message["Body"]
        receive = int(message["Attributes"]["ApproximateReceiveCount"])
        self.job, self.calls, self.kill_at, self.point, self.dead = _job_of(body), 0, kill_at, point, False
        dispatcher, alarms, deferrals = self.dispatcher()
        # An INPROGRESS record a killed delivery leaves expires at once, as one left by a timed-out Lambda expires
        # with it (Powertools reads the deadline on the real clock; the run's clock is simulated).
        dispatcher.start_invocation(_Context(1))
        outcome = "ok"
        try:
            handle_message(
                body, receive, message.get("MessageAttributes"), alarms=alarms, jobs=dispatcher, deferrals=deferrals
            )
        except WorkerKilled:
            outcome = "killed"
        except Exception as exc:  # the batch item failed: SQS delivers it again
            outcome = f"failed ({type(exc).__name__})"
        if self.dead:
            outcome = "killed"
            self._dispatcher = None  # the container died: the next delivery gets a new one
        self.kill_at = None
        return outcome


class _Context(FakeLambdaContext):
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _job_of(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if "job_id" in data:
        return str(data["job_id"])
    message = data.get("Message") or data.get("detail") or data
    if isinstance(message, str):
        with contextlib.suppress(ValueError):
            message = json.loads(message)
    name = message.get("AlarmName") or (message.get("alarmName") if isinstance(message, dict) else "")
    return f"alarm:{name}" if name else ""


def _effect_of(call: Call) -> tuple[str, str]:
    """The side effect a request the target took makes (empty when it makes none), and its target."""
    if call.service == "jenkins" and _JENKINS_BUILD.match(call.action):
        return "jenkins.build", "deploy-web"
    if call.name not in _EFFECT_CALLS:
        return "", ""
    if call.name == "ec2.RebootInstances":
        return "ec2.reboot", "bastion"
    body = json.loads(call.body or b"{}")
    if call.service == "codebuild":
        if call.action == "StopBuild":
            return "codebuild.stop", "payment"
        project = body.get("projectName", "")
        return "codebuild.start", {MIGRATION_PROJECT: "payment", REGRESSION_PROJECT: "smoke"}.get(project, project)
    service = body.get("service", "")
    if body.get("forceNewDeployment"):
        return "ecs.restart", service
    if "taskDefinition" in body:
        return "ecs.rollback", service
    if "desiredCount" in body:
        return "ecs.scale", service
    return "", ""
