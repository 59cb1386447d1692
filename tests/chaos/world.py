"""The local stack a chaos schedule runs on, and the run itself.

The stack (`ChaosStack`): moto in server mode with its IAM enforced, the local Slack API (strict), the local
CodeBuild and Jenkins on a simulated clock, the jobs queue with its DLQ, the tables, and the ack (Bolt, signed
requests, in-process like Lambda runs it) under the ack's role. It is made once and reset between seeds.

The run (`run_schedule`): people type commands through the ack and press the buttons it and the worker show;
an event source receives from the queue and hands each message to one of several workers, each built as the
Lambda builds it under the worker's role, with its own fault proxy in front of every service it calls (faults on
the wire, below the SDKs' retries) and its own clock skew. Each side effect is counted where the target received
it (the proxy forwarded it and the target answered 2xx), attributed to the job of the delivery that sent it,
and the totals are checked against the targets' own records at the end. The leases table is read after every
delivery. Everything goes into a `History`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.config import Config

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from infra.devstack.aws import MotoServer, Queues, Tables, aws_client, provision_demo_ecs, provision_queues
from infra.devstack.aws import provision_tables
from infra.devstack.codebuild import CodeBuildServer
from infra.devstack.demo import (
    APPROVALS_CHANNEL,
    APPROVERS_GROUP,
    INCIDENT_CHANNEL,
    JENKINS_JOB,
    MIGRATION_PROJECT,
    REGRESSION_PROJECT,
    DemoTimings,
    demo_inventory_toml,
    demo_workspace,
    provision_demo_instances,
    provision_demo_logs,
    script_demo_builds,
)
from infra.devstack.fault_proxy import Call, FaultProxy
from infra.devstack.fault_proxy import Fault as WireFault
from infra.devstack.jenkins import JenkinsServer
from infra.devstack.roles import local_resources, provision_function_roles
from infra.devstack.slack_api import SlackApiServer
from shared.commands import ApprovalRequestArgs
from shared.confirm import APPROVAL_TTL_S
from shared.inventory import Inventory
from shared.jobs import JobEnvelope, job_id_for, utcnow
from shared.queue import SqsJobQueue
from tests.chaos.checker import EFFECT_OF
from tests.chaos.history import History
from tests.chaos.schedule import MODES, TAIL_TICK_S, TICK_S, Schedule
from tests.events import alarm_body, load_event, slash_body
from tests.fakes import FakeLambdaContext
from tests.integration.faults import WorkerKilled
from tests.integration.worker_harness import Clock, Harness
from worker_function.app import build_alarm_feed, build_deferrals, build_dispatcher
from worker_function.clients import AwsClients, jenkins_client, slack_retry_handlers
from worker_function.pacing import handle_message
from worker_function.slack_http import PooledWebClient, PooledWebhookClient

SECRET = "chaos-signing-secret"
TEAM = "T0001"
OPS_CHANNEL = "C0LOCALOPS"
CLUSTER = "chaos-cluster"
#: The worker's read timeout on the wire: a `timeout` fault holds the answer this long (scaled: Lambda's is 20 s).
READ_TIMEOUT_S = 1.0

#: Alarms named `chaos-...` go to the incident channel, about `payment`.
ALARM_ROUTE = f"""
[alarms."chaos-"]
prefix = true
target = "payment"
channel = "{INCIDENT_CHANNEL}"
runbook = ["/ops-status payment"]
"""

#: What a worker may do to its target, by the request the target received.
_EFFECT_CALLS = ("ecs.UpdateService", "ec2.RebootInstances", "codebuild.StartBuild", "codebuild.StopBuild")
_JENKINS_BUILD = re.compile(r"^POST /job/.*/build(WithParameters)?$")
_SHORT_ID = re.compile(r"job `([0-9a-f]{8})`")


def inventory_toml(cluster: str = CLUSTER) -> str:
    """The demo inventory with its second-person rule (alex's prod migrations need @sre) and the chaos alarms."""
    return demo_inventory_toml(cluster, second_person=True) + ALARM_ROUTE


class Sim:
    """The simulated clock and the tick it is at (fault windows are in ticks)."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.tick = 0

    def restart(self) -> None:
        """Now again (the stand-ins keep reading this same clock)."""
        with self.clock._lock:
            self.clock._now = utcnow()
        self.tick = 0


# -- the stack ---------------------------------------------------------------------------------------------


@dataclass
class ChaosStack:
    moto: MotoServer
    slack: SlackApiServer
    codebuild: CodeBuildServer
    jenkins: JenkinsServer
    queues: Queues
    tables: Tables
    sim: Sim
    harness: Harness
    ack_sqs: Any
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def running(cls, moto: MotoServer | None = None) -> Iterator[ChaosStack]:
        """The stack on `moto` (else a moto server of its own), stopped after."""
        with contextlib.ExitStack() as stack:
            if moto is None:
                recording = stack.enter_context(tempfile.TemporaryDirectory())
                env = {"MOTO_ECS_SERVICE_RUNNING": "2", "MOTO_RECORDER_FILEPATH": f"{recording}/recording.jsonl"}
                moto = stack.enter_context(MotoServer(env=env))
            sim = Sim()
            slack = stack.enter_context(SlackApiServer(token="xoxb-test", workspace=demo_workspace()))
            slack.limits.enabled = False  # Slack's pace is a fault of its own here (errors on the wire)
            codebuild = stack.enter_context(CodeBuildServer(clock=sim.clock.time))
            jenkins = stack.enter_context(JenkinsServer(clock=sim.clock.time))
            script_demo_builds(codebuild, jenkins, DemoTimings(migration_s=45, regression_s=40, jenkins_build_s=20))
            ecs = aws_client("ecs", moto.endpoint_url)
            provision_demo_ecs(ecs, cluster=CLUSTER)
            provision_demo_instances(aws_client("ec2", moto.endpoint_url))
            provision_demo_logs(aws_client("logs", moto.endpoint_url))
            suffix = f"chaos{int(time.time() * 1000) % 10**8}"
            queues = provision_queues(aws_client("sqs", moto.endpoint_url), name=f"jobs-{suffix}", visibility_timeout=1)
            dynamodb = aws_client("dynamodb", moto.endpoint_url)
            tables = provision_tables(
                dynamodb, idempotency=f"idem-{suffix}", leases=f"leases-{suffix}", audit=f"audit-{suffix}"
            )
            harness = Harness(
                moto=moto,
                slack=slack,
                queues=queues,
                tables=tables,
                cluster=CLUSTER,
                codebuild=codebuild,
                jenkins=jenkins,
                clock=sim.clock,
                inventory_toml=inventory_toml(),
            )
            harness.worker_role()  # provisions the worker's role, and enforces it on the stand-ins
            local = local_resources(queues, tables)
            ack_role = provision_function_roles(moto.endpoint_url, inventory_toml(), local, functions=("ack",))["ack"]
            ack_sqs = ack_role.session().client(
                "sqs", endpoint_url=moto.endpoint_url, config=Config(retries={"total_max_attempts": 1})
            )
            yield cls(moto, slack, codebuild, jenkins, queues, tables, sim, harness, ack_sqs)

    def reset(self) -> None:
        """Between seeds: the queues drained, the tables emptied, Slack forgotten, the services as provisioned."""
        sqs = aws_client("sqs", self.moto.endpoint_url)
        for url in (self.queues.queue_url, self.queues.dlq_url):  # PurgeQueue: once a minute only
            while True:
                found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not found:
                    break
                for message in found:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        dynamodb = aws_client("dynamodb", self.moto.endpoint_url)
        for table in (self.tables.idempotency, self.tables.leases, self.tables.audit):
            keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})
        self.slack.reset()
        self.slack.set_usergroup(APPROVERS_GROUP, ["U0DANA"])
        ecs = aws_client("ecs", self.moto.endpoint_url)
        ecs.update_service(cluster=CLUSTER, service="payment", taskDefinition="payment:2", desiredCount=2)
        ecs.update_service(cluster=CLUSTER, service="checkout", taskDefinition="checkout:2", desiredCount=2)
        self.sim.restart()


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
        if self.kill_at is not None and self.calls >= self.kill_at:
            self.dead = True
            self.run.history.add("kill", self.run.now(), job=self.job, worker=self.index, call=call.name)
            return WireFault("reset", "after")
        if self.point is not None and self.calls == self.point[0]:
            mode, when = self.point[1], self.point[2]
            return self._fault(call, mode, when, delay_s=0.1)
        tick = self.run.stack.sim.tick
        for window in self.run.schedule.windows:
            if window.start <= tick <= window.end and call.service == window.service:
                if self.rng.random() < window.rate:
                    return self._fault(call, window.mode, window.when, delay_s=window.delay_s)
        return None

    def _fault(self, call: Call, mode: str, when: str, *, delay_s: float) -> WireFault:
        self.run.faults += 1
        self.run.history.add("fault", self.run.now(), job=self.job, worker=self.index, call=call.name, mode=mode, when=when)
        return WireFault(mode, when, delay_s=delay_s, hold_s=READ_TIMEOUT_S + 2)  # type: ignore[arg-type]

    def observe(self, call: Call) -> None:
        if not call.forwarded or call.upstream_status is None or not 200 <= call.upstream_status < 300:
            return
        what, target = _effect_of(call)
        if what:
            self.run.history.add("effect", self.run.now(), job=self.job, target=target, what=what, worker=self.index)
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
        self, message: dict[str, Any], *, parallel: bool, kill_at: int | None, point: tuple[int, str, str] | None = None
    ) -> str:
        """One delivery of `message`: ok (delete it), failed (SQS delivers it again) or killed."""
        body = message["Body"]
        receive = int(message["Attributes"]["ApproximateReceiveCount"])
        self.job, self.calls, self.kill_at, self.point, self.dead = _job_of(body), 0, kill_at, point, False
        dispatcher, alarms, deferrals = self.dispatcher()
        # Sequential deliveries: an INPROGRESS record a killed one leaves expires at once, as one left by a timed-out
        # Lambda expires with it. Parallel ones keep theirs for the function's timeout (a duplicate waits).
        dispatcher.start_invocation(_Context(30_000 if parallel else 1))
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


# -- the run ---------------------------------------------------------------------------------------------------


class _AckQueue(SqsJobQueue):
    """The ack's queue: real SQS under the ack's role; approval requests are noted (their job is the request's)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.stack.queues.queue_url, client=run.stack.ack_sqs)
        self.run = run

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str:
        if isinstance(job.args, ApprovalRequestArgs):
            self.run.approval_requests[job.job_id] = job.args.job_id
        return super().send(job, delay_seconds=delay_seconds)


@dataclass
class Pending:
    """A prompt or an approval request waiting for a person."""

    job: str
    user: str
    line: str
    blocks: list[dict[str, Any]] | None = None


class Run:
    """One schedule on the stack, recorded."""

    def __init__(self, stack: ChaosStack, schedule: Schedule, *, break_build: str = "") -> None:
        stack.reset()
        self.stack, self.schedule = stack, schedule
        self.history = History(start=stack.sim.clock.time())
        self.inventory = Inventory.from_toml(inventory_toml())
        self.effects: dict[str, int] = {}
        self.faults = 0
        self.approval_requests: dict[str, str] = {}
        self.prompts: list[Pending] = []
        self.approvals: list[Pending] = []
        self.jobs: list[str] = []
        self.requested = 0
        self.sqs = aws_client("sqs", stack.moto.endpoint_url)
        self.dynamodb = aws_client("dynamodb", stack.moto.endpoint_url)
        self.ack_handler = SlackRequestHandler(build_app(SECRET, _AckQueue(self), self.inventory))
        self.workers = [ChaosWorker(self, i) for i in range(schedule.workers)]
        self._slack_seq = 0
        self._leases: dict[str, dict[str, Any]] = {}
        self._alarms = 0
        environments = {name: t.environment for name, t in self.inventory.targets.items()}
        environments.update({"deploy-web": "staging", "smoke": ""})
        self.history.add(
            "meta", self.now(), seed=schedule.seed, approvers=["U0DANA"], freeze_overriders={"prod": ["U0DANA"]},
            environments=environments, skew_s=max(schedule.skews) - min(schedule.skews),
        )

    def now(self) -> float:
        return self.stack.sim.clock.time()

    def close(self) -> None:
        for worker in self.workers:
            worker.proxy.close()

    # -- people

    def _ack(self, body: bytes) -> dict[str, Any]:
        response = handle(self.ack_handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
        text = response.get("body") or "{}"
        try:
            return dict(json.loads(text)) if response["statusCode"] == 200 else {"text": f"HTTP {response['statusCode']}"}
        except ValueError:
            return {"text": text}

    def command(self, user: str, line: str) -> None:
        if line == "(alarm)":
            self._alarm()
            return
        if "{job}" in line:
            if not self.jobs:
                return
            line = line.replace("{job}", self.schedule.rng("cancel", self.requested).choice(self.jobs)[:8])
        self.requested += 1
        trigger = f"{self.schedule.seed}.{self.requested}.chaos"
        job_id = job_id_for(TEAM, trigger)
        name, _, text = line.partition(" ")
        mutating = name in EFFECT_OF
        target = text.split(" ")[0] if text else ""
        self.history.add("request", self.now(), job=job_id, target=target, user=user, line=line, command=name,
                         mutating=mutating)
        body = slash_body(
            name, text, user_id=user, channel_id=OPS_CHANNEL, team_id=TEAM,
            response_url=self.stack.slack.response_url(job_id), trigger_id=trigger,
        )
        answer = self._ack(body)
        said = str(answer.get("text", ""))
        blocks = answer.get("blocks") or []
        if "is queued as job" in said:
            outcome = "queued"
        elif _button(blocks, "opsbot_confirm"):
            outcome = "prompt"
            self.prompts.append(Pending(job_id, user, line, blocks))
        elif "second person" in said:
            outcome = "approval"
            self.approvals.append(Pending(job_id, user, line))
        else:
            outcome = "refused"
        extra = {"expires_at": self.history.rel(self.now() + APPROVAL_TTL_S)} if outcome == "approval" else {}
        self.history.add("ack", self.now(), job=job_id, outcome=outcome, text=said, **extra)
        if outcome in ("queued", "prompt", "approval"):
            self.jobs.append(job_id)

    def _alarm(self) -> None:
        self._alarms += 1
        name = f"chaos-{self.schedule.seed}-{self._alarms}"
        body = alarm_body("sns", AlarmName=name)
        self.sqs.send_message(QueueUrl=self.stack.queues.queue_url, MessageBody=body)
        self.history.add("alarm", self.now(), job=f"alarm:{name}", channel=INCIDENT_CHANNEL)

    def click(self, user: str, action: str, value: str, job: str, *, channel: str, key: str) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": TEAM},
            "channel": {"id": channel},
            "trigger_id": f"{self.schedule.seed}.click.{job[:8]}.{user}.{action}",
            "response_url": self.stack.slack.response_url(key),
            "actions": [{"action_id": f"opsbot_{action}", "value": value}],
        }
        answer = self._ack(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
        self.history.add("click", self.now(), job=job, user=user, action=action, text=str(answer.get("text", "")))

    def press_buttons(self) -> None:
        """People answer prompts (Confirm, Cancel, or nothing: it expires) and approval requests (an approver, the
        requester, someone else; Approve or Reject; or nobody: it expires)."""
        for prompt in list(self.prompts):
            rng = self.schedule.rng("prompt", prompt.job)
            if rng.random() < 0.5:  # not yet: a later tick
                continue
            self.prompts.remove(prompt)
            choice = rng.choices(("confirm", "cancel", "none"), (7, 2, 1))[0]
            if choice != "none":
                value = _button(prompt.blocks or [], f"opsbot_{choice}")
                self.click(prompt.user, choice, value, prompt.job, channel=OPS_CHANNEL, key=prompt.job)
        for request in list(self.approvals):
            posted = self._approval_message(request.job)
            if posted is None:
                continue
            rng = self.schedule.rng("approval", request.job)
            if rng.random() < 0.4:
                continue
            self.approvals.remove(request)
            user, action = rng.choices(
                (("U0DANA", "approve"), ("U0DANA", "reject"), (request.user, "approve"), ("U0LOCALDEV", "approve"),
                 ("", "")),
                (6, 1, 1, 1, 1),
            )[0]
            if user:
                value = _button(posted, f"opsbot_{action}")
                self.click(user, action, value, request.job, channel=APPROVALS_CHANNEL, key=f"approval-{user}")

    def _approval_message(self, job: str) -> list[dict[str, Any]] | None:
        requests = {rid for rid, jid in self.approval_requests.items() if jid == job}
        for m in self.stack.slack.messages(channel=APPROVALS_CHANNEL):
            if m.kind == "chat.postMessage" and (m.job_id in requests or m.job_id == job):
                return list(m.payload.get("blocks") or [])
        return None

    # -- the event source

    def deliver_round(self) -> bool:
        """Receive what is visible and deliver it; False when nothing was."""
        url = self.stack.queues.queue_url
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return False
        messages.sort(key=lambda m: (_job_of(m["Body"]), m["Body"]))
        tick = self.stack.sim.tick
        i = 0
        while i < len(messages):
            message = messages[i]
            rng = self.schedule.rng("delivery", tick, _job_of(message["Body"]), i)
            pair = messages[i + 1] if i + 1 < len(messages) else None
            if pair is not None and _job_of(pair["Body"]) != _job_of(message["Body"]) and rng.random() < self.schedule.parallel_rate:
                workers = rng.sample(range(len(self.workers)), 2) if len(self.workers) > 1 else [0, 0]
                if workers[0] != workers[1]:
                    threads = [
                        threading.Thread(target=self._deliver, args=(m, w, rng, True))
                        for m, w in ((message, workers[0]), (pair, workers[1]))
                    ]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    self._after_delivery()
                    i += 2
                    continue
            self._deliver(message, rng.randrange(len(self.workers)), rng, False)
            self._after_delivery()
            if rng.random() < self.schedule.duplicate_rate:  # SQS delivers a copy again (at least once)
                self.history.add("duplicate", self.now(), job=_job_of(message["Body"]))
                self._deliver(message, rng.randrange(len(self.workers)), rng, False, delete=False)
                self._after_delivery()
            i += 1
        return True

    def _deliver(self, message: dict[str, Any], index: int, rng: Any, parallel: bool, *, delete: bool = True) -> None:
        worker = self.workers[index]
        kill_at = rng.randint(1, 12) if not parallel and rng.random() < self.schedule.kill_rate else None
        point = None
        if rng.random() < self.schedule.point_rate:
            _, mode, when = rng.choices(MODES, [w for w, _, _ in MODES])[0]
            point = (rng.randint(1, 10), mode, when)
        data = _envelope_facts(message["Body"])
        self.history.add(
            "delivery", self.now(), job=_job_of(message["Body"]), worker=index,
            receive=message["Attributes"]["ApproximateReceiveCount"], parallel=parallel,
            clock=round(self.history.rel(worker.now().timestamp()), 3), **data,
        )
        outcome = worker.deliver(message, parallel=parallel, kill_at=kill_at, point=point)
        self.history.add("delivered", self.now(), job=worker.job, worker=index, outcome=outcome)
        if not delete:
            return
        url = self.stack.queues.queue_url
        with contextlib.suppress(Exception):
            if outcome == "ok":
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:  # back on the queue now, not after the visibility timeout (the clock is simulated)
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    def _after_delivery(self) -> None:
        """What Slack received since, and what changed in the leases table."""
        for m in self.stack.slack.messages(after=self._slack_seq):
            self._slack_seq = max(self._slack_seq, m.seq)
            job = m.job_id or m.key or ""
            if m.channel == INCIDENT_CHANNEL:
                found = re.search(r"chaos-\d+-\d+", json.dumps(m.payload))
                job = f"alarm:{found.group(0)}" if found else job
            to = "requester" if (m.key and m.key == job) or m.channel in (OPS_CHANNEL, INCIDENT_CHANNEL) else "other"
            if m.kind == "chat.postEphemeral" and m.channel == APPROVALS_CHANNEL:
                to = "other"
            self.history.add(
                "message", self.now(), job=self._job_of_message(job), kind=m.kind, key=m.key or "", ts=m.ts or "",
                final=m.final or (m.channel == INCIDENT_CHANNEL and m.kind in ("chat.postMessage", "chat.update")),
                replace=bool(m.payload.get("replace_original")), channel=m.channel or "", to=to,
                text=m.text[:300],
            )
        items = {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.stack.tables.leases, ConsistentRead=True):
            for item in page["Items"]:
                items[item["target"]["S"]] = item
        for key in sorted(set(items) | set(self._leases)):
            new, old = items.get(key), self._leases.get(key)
            if new == old:
                continue
            if new is None:
                self.history.add("lease", self.now(), target=key, op="released", owner=_s(old, "owner_job"),
                                 lock=_s(old, "owner_job").startswith("lock:"), freeze=key.startswith("freeze#"))
                continue
            owner = _s(new, "owner_job") or _s(new, "job_id") or _s(new, "by")
            self.history.add(
                "lease", self.now(), target=key, op="taken", owner=owner,
                expires_at=self.history.rel(float(new.get("expires_at", {}).get("N", 0))),
                lock=owner.startswith("lock:"), freeze=key.startswith("freeze#"), lifted=bool(_s(new, "lifted_by")),
            )
        self._leases = items

    def _job_of_message(self, job: str) -> str:
        return self.approval_requests.get(job, job)

    def quiet(self) -> bool:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.stack.queues.queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
        waiting = sum(
            int(attributes.get(a, 0))
            for a in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
        )
        return waiting == 0 and not self.prompts and not self.approvals

    # -- the whole run

    def play(self) -> History:
        schedule, sim = self.schedule, self.stack.sim
        last = max((a.tick for a in schedule.actions), default=0)
        moto_recorder(self.stack.moto.endpoint_url, "reset-recording")
        moto_recorder(self.stack.moto.endpoint_url, "start-recording")
        builds_before = _target_builds(self.stack)
        try:
            for tick in range(last + 1 + schedule.max_ticks):
                sim.tick = tick
                step = TICK_S if tick <= last + 4 else TAIL_TICK_S
                sim.clock.advance(step)
                self.history.add("tick", self.now(), tick=tick)
                for action in schedule.actions:
                    if action.tick == tick:
                        self.command(action.user, action.line)
                self.press_buttons()
                self.deliver_round()
                if tick > last and self.quiet():
                    break
        finally:
            moto_recorder(self.stack.moto.endpoint_url, "stop-recording")
        self._after_delivery()
        self._end(builds_before)
        return self.history

    def _end(self, builds_before: dict[str, int]) -> None:
        dead = self.sqs.receive_message(QueueUrl=self.stack.queues.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        recorded = moto_requests(self.stack.moto.endpoint_url)
        at_target = {
            "ecs": moto_count(recorded, "UpdateService"),
            "ec2.reboot": moto_count(recorded, "RebootInstances"),
        }
        builds = _target_builds(self.stack)
        at_target.update({k: builds[k] - builds_before.get(k, 0) for k in builds})
        counted = {
            "ecs": sum(self.effects.get(k, 0) for k in ("ecs.restart", "ecs.rollback", "ecs.scale")),
            "ec2.reboot": self.effects.get("ec2.reboot", 0),
            "codebuild.start": self.effects.get("codebuild.start", 0),
            "jenkins.build": self.effects.get("jenkins.build", 0),
        }
        self.history.add("end", self.now(), pending=not self.quiet(), dead_letters=len(dead),
                         at_target=at_target, counted=counted, faults=self.faults)


def _target_builds(stack: ChaosStack) -> dict[str, int]:
    return {
        "codebuild.start": len(stack.codebuild.builds_of(MIGRATION_PROJECT)) + len(stack.codebuild.builds_of(REGRESSION_PROJECT)),
        "jenkins.build": sum(1 for q in stack.jenkins.queued if q.job == JENKINS_JOB),
    }


def _envelope_facts(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {"kind": "?"}
    if "job_id" not in data:
        return {"kind": "alarm"}
    args = data.get("args") or {}
    facts = {"kind": args.get("kind", "?"), "step": (data.get("continuation") or {}).get("step", 0)}
    for name in ("approved_by", "confirmed_by"):
        if data.get(name):
            facts[name] = data[name]
    return facts


def _button(blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    return ""


def _s(item: dict[str, Any] | None, name: str) -> str:
    return str(((item or {}).get(name) or {}).get("S", ""))


from tests.integration.faults import moto_count, moto_recorder, moto_requests  # noqa: E402


def run_seed(stack: ChaosStack, seed: int, **kwargs: Any) -> History:
    run = Run(stack, Schedule.from_seed(seed, **kwargs))
    try:
        return run.play()
    finally:
        run.close()
