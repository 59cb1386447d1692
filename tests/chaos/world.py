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
import json
import re
import threading
import uuid
from typing import Any

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from infra.devstack.aws import (
    aws_client,
)
from infra.devstack.demo import (
    APPROVALS_CHANNEL,
    INCIDENT_CHANNEL,
    JENKINS_JOB,
    MIGRATION_PROJECT,
    REGRESSION_PROJECT,
)
from shared.inventory import Inventory
from tests.chaos.history import History
from tests.chaos.people import People, _AckQueue
from tests.chaos.schedule import MODES, TAIL_TICK_S, TICK_S, Schedule
from tests.chaos.stack import OPS_CHANNEL, SECRET, ChaosStack, inventory_toml
from tests.chaos.worker import ChaosWorker, _job_of

# -- the run ---------------------------------------------------------------------------------------------------


class Run:
    """One schedule on the stack, recorded."""

    def __init__(self, stack: ChaosStack, schedule: Schedule, *, break_build: str = "") -> None:
        stack.reset()
        self.stack, self.schedule = stack, schedule
        self.history = History(start=stack.sim.clock.time())
        self.inventory = Inventory.from_toml(inventory_toml())
        self.effects: dict[str, int] = {}
        self.faults = 0
        #: Jobs that answer for another (an approval request, a prompt's settlement) -> that job.
        self.aliases: dict[str, str] = {}
        #: Each request's job -> its number in the run ("request 3"): what the seed decides about a job is keyed by it.
        self.ordinals: dict[str, str] = {}
        self.nonce = uuid.uuid4().hex[:8]
        self.prompts: list[Any] = []  # people.Pending
        self.approvals: list[Any] = []
        self.jobs: list[str] = []
        self.requested = 0
        self.sqs = aws_client("sqs", stack.moto.endpoint_url)
        self.dynamodb = aws_client("dynamodb", stack.moto.endpoint_url)
        self.ack_handler = SlackRequestHandler(build_app(SECRET, _AckQueue(self), self.inventory))
        self.workers = [ChaosWorker(self, i) for i in range(schedule.workers)]
        self.people = People(self)
        self._slack_seq = 0
        self._observing = threading.RLock()
        self._leases: dict[str, dict[str, Any]] = {}
        self._alarms = 0
        environments = {name: t.environment for name, t in self.inventory.targets.items()}
        environments.update({"deploy-web": "staging", "smoke": ""})
        self.history.add(
            "meta",
            self.now(),
            seed=schedule.seed,
            approvers=["U0DANA"],
            freeze_overriders={"prod": ["U0DANA"]},
            environments=environments,
            skew_s=max(schedule.skews) - min(schedule.skews),
        )

    def ordinal(self, job: str) -> str:
        """The job's number in the run (the same in every replay of the seed), its own id if it has none (an alarm)."""
        job = self.aliases.get(job, job)
        return self.ordinals.get(job, job)

    def now(self) -> float:
        return self.stack.sim.clock.time()

    def close(self) -> None:
        for worker in self.workers:
            worker.proxy.close()

    # -- the event source

    def deliver_round(self) -> bool:
        """Receive what is visible and deliver it; False when nothing was."""
        url = self.stack.queues.queue_url
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return False
        messages.sort(key=lambda m: (self.ordinal(_job_of(m["Body"])), _step_of(m["Body"]), m["MessageId"]))
        tick = self.stack.sim.tick
        for i, message in enumerate(messages):
            rng = self.schedule.rng("delivery", tick, self.ordinal(_job_of(message["Body"])), i)
            self._deliver(message, rng.randrange(len(self.workers)), rng)
            self._after_delivery()
            if rng.random() < self.schedule.duplicate_rate:  # SQS delivers a copy again (at least once)
                self.history.add("duplicate", self.now(), job=_job_of(message["Body"]))
                self._deliver(message, rng.randrange(len(self.workers)), rng, delete=False)
                self._after_delivery()
        return True

    def _deliver(self, message: dict[str, Any], index: int, rng: Any, *, delete: bool = True) -> None:
        worker = self.workers[index]
        kill_at = rng.randint(1, 12) if rng.random() < self.schedule.kill_rate else None
        point = None
        if rng.random() < self.schedule.point_rate:
            _, mode, when = rng.choices(MODES, [w for w, _, _ in MODES])[0]
            point = (rng.randint(1, 10), mode, when)
        data = _envelope_facts(message["Body"])
        self.history.add(
            "delivery",
            self.now(),
            job=_job_of(message["Body"]),
            worker=index,
            receive=message["Attributes"]["ApproximateReceiveCount"],
            clock=round(self.history.rel(worker.now().timestamp()), 3),
            **data,
        )
        outcome = worker.deliver(message, kill_at=kill_at, point=point)
        self.history.add("delivered", self.now(), job=worker.job, worker=index, outcome=outcome)
        if not delete:
            return
        url = self.stack.queues.queue_url
        with contextlib.suppress(Exception):
            if outcome == "ok":
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:  # back on the queue now, not after the visibility timeout (the clock is simulated)
                self.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )

    def observe_now(self) -> None:
        with self._observing:
            self._after_delivery()

    def _after_delivery(self) -> None:
        """What Slack received since, and what changed in the leases table (under `_observing` when deliveries run
        in parallel)."""
        for m in self.stack.slack.messages(after=self._slack_seq):
            self._slack_seq = max(self._slack_seq, m.seq)
            # A request's own response_url answers for its job, whoever posts there (a cancel's notice to the
            # cancelled job's requester is the notice job's message, in that job's place).
            job = m.key if m.key in self.ordinals else (m.job_id or m.key or "")
            if m.channel == INCIDENT_CHANNEL:
                found = re.search(r"chaos-\d+-\d+", json.dumps(m.payload))
                job = f"alarm:{found.group(0)}" if found else job
            to = "requester" if (m.key and m.key == job) or m.channel in (OPS_CHANNEL, INCIDENT_CHANNEL) else "other"
            if m.kind == "chat.postEphemeral" and m.channel == APPROVALS_CHANNEL:
                to = "other"
            self.history.add(
                "message",
                self.now(),
                job=self._job_of_message(job),
                kind=m.kind,
                key=m.key or "",
                ts=m.ts or "",
                final=m.final or (m.channel == INCIDENT_CHANNEL and m.kind in ("chat.postMessage", "chat.update")),
                replace=bool(m.payload.get("replace_original")),
                channel=m.channel or "",
                to=to,
                text=m.text[:300],
            )
        items = {}
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.stack.tables.leases, ConsistentRead=True
        ):
            for item in page["Items"]:  # the table also holds decisions, intents and jobs: not leases
                key = item["target"]["S"]
                if "#" not in key or key.startswith("freeze#"):
                    items[key] = item
        for key in sorted(set(items) | set(self._leases)):
            new, old = items.get(key), self._leases.get(key)
            if new == old:
                continue
            if new is None:
                self.history.add(
                    "lease",
                    self.now(),
                    target=key,
                    op="released",
                    owner=_s(old, "owner_job"),
                    lock=_s(old, "owner_job").startswith("lock:"),
                    freeze=key.startswith("freeze#"),
                )
                continue
            owner = _s(new, "owner_job") or _s(new, "job_id") or _s(new, "by")
            self.history.add(
                "lease",
                self.now(),
                target=key,
                op="taken",
                owner=owner,
                expires_at=self.history.rel(float(new.get("expires_at", {}).get("N", 0))),
                lock=owner.startswith("lock:"),
                freeze=key.startswith("freeze#"),
                lifted=bool(_s(new, "lifted_by")),
            )
        self._leases = items

    def _job_of_message(self, job: str) -> str:
        return self.aliases.get(job, job)

    def quiet(self) -> bool:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.stack.queues.queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
        waiting = sum(
            int(attributes.get(a, 0))
            for a in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )
        return waiting == 0

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
                        self.people.command(action.user, action.line)
                self.people.press_buttons()
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
        self.history.add(
            "end",
            self.now(),
            pending=not self.quiet(),
            dead_letters=len(dead),
            at_target=at_target,
            counted=counted,
            faults=self.faults,
        )


def _target_builds(stack: ChaosStack) -> dict[str, int]:
    return {
        "codebuild.start": len(stack.codebuild.builds_of(MIGRATION_PROJECT))
        + len(stack.codebuild.builds_of(REGRESSION_PROJECT)),
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


def _s(item: dict[str, Any] | None, name: str) -> str:
    return str(((item or {}).get(name) or {}).get("S", ""))


from tests.integration.faults import moto_count, moto_recorder, moto_requests  # noqa: E402


def run_seed(stack: ChaosStack, seed: int, **kwargs: Any) -> History:
    run = Run(stack, Schedule.from_seed(seed, **kwargs))
    try:
        return run.play()
    finally:
        run.close()


def _step_of(body: str) -> int:
    try:
        return int((json.loads(body).get("continuation") or {}).get("step", 0))
    except (ValueError, AttributeError):
        return 0
