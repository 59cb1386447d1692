"""The fault-enumeration harness: a command's job run to its end once per fault, on the wire.

The worker's requests go through the fault proxy (`infra.devstack.fault_proxy`), below the SDKs' own retries. The
job first runs clean, which numbers the requests its deliveries send (DynamoDB, SQS, the target's AWS service,
Slack; an SDK's retry is a request of its own). Then, once per request, a fresh copy of the job runs with that
request refused before it reached the target, answered 503 after the target acted, its connection reset after the
target acted, the worker killed after the target acted, and (for the requests that make a side effect) its answer
held back past the worker's read timeout; SQS redelivery runs it to the end. Each run must show the side effect
exactly once AT THE TARGET (counted there, by the caller's `effects`), exactly one final message the requester
sees (the local Slack API's records), and the target's lease released.

A command author calls `prove_exactly_once(harness, line, effects=..., effect_calls=...)` (the `opsbot_harness`
fixture of `opsbot_testkit.fixtures` gives the harness); opsbot's own scenarios (tests/integration/
test_exactly_once.py) build on `Runner`.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from slack_sdk.webhook import WebhookClient

from infra.devstack.aws import aws_client
from infra.devstack.fault_proxy import FaultProxy
from infra.devstack.slack_limits import RateLimits
from opsbot_testkit.faults import Fault, FaultPlan, WorkerKilled, visible_final_messages
from opsbot_testkit.harness import WIRE_READ_TIMEOUT_S, Harness
from opsbot_testkit.lambda_context import FakeLambdaContext
from shared.commands import spec_for_kind
from shared.jobs import JobEnvelope
from worker_function.app import build_alarm_feed, build_dispatcher
from worker_function.clients import AwsClients, jenkins_client, slack_retry_handlers
from worker_function.slack_http import PooledWebhookClient

#: Deliveries of one job before the run counts as stuck (a long job here takes 2-3 steps).
MAX_DELIVERIES = 40

#: The requests of opsbot's own commands that make a side effect: their answer is also held back past the read
#: timeout (a runbook step's answer included: the SDK resends it, and the task token refuses the second). A
#: command author names its own (`effect_calls`).
EFFECT_CALLS = (
    "ecs.UpdateService",
    "ec2.RebootInstances",
    "codebuild.StartBuild",
    "POST /job/",
    "StartExecution",
    "SendTaskSuccess",
    "SendTaskFailure",
)
#: Requests that change nothing: AWS actions by their verb, GETs (REST services, Jenkins, CodeBuild), Slack's reads.
READ_VERBS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet")
SLACK_READS = ("users.info", "usergroups.users.list", "conversations.history", "conversations.info", "auth.test")
#: The worker's own store and queue: botocore resends their requests after a 503 and after a reset alike.
STORE_SERVICES = ("dynamodb.", "sqs.")


class DyingContext(FakeLambdaContext):
    """An invocation with 1 ms left: an INPROGRESS record a killed delivery leaves expires at once, as one
    left by a timed-out Lambda expires with it (`register_lambda_context`)."""

    def get_remaining_time_in_millis(self) -> int:
        return 1


def is_read(name: str) -> bool:
    service, _, action = name.partition(".")
    if action.startswith("GET "):
        return True
    if service == "slack":
        return action in SLACK_READS
    return action.startswith(READ_VERBS)


def faults_of(
    calls: list[str], only: set[int] | None = None, effect_calls: tuple[str, ...] = EFFECT_CALLS
) -> Iterator[Fault]:
    """Every request that changes something: refused before it reached the target, answered 503 after the
    target acted, reset after the target acted, killed after the target acted (a side effect's request, one
    naming any of `effect_calls`, also timed out after the target acted); and killed before the first request.
    A request that only reads is refused once: the target did nothing, so its other faults are that one (its
    answer lost) or a kill after the write before it (a kill before request N is a kill after request N-1, and
    a read changes nothing). A write to the worker's own store or queue is not also answered 503: botocore
    resends it after a 503 exactly as after a reset. With `only`, just those requests are faulted."""
    yield Fault(0, "before", "kill")
    for index, name in enumerate(calls):
        if only is not None and index not in only:
            continue
        yield Fault(index, "before", "refuse")
        if is_read(name):
            continue
        if not name.startswith(STORE_SERVICES):
            yield Fault(index, "after", "error")
        yield Fault(index, "after", "reset")
        yield Fault(index, "after", "kill")
        if any(effect in name for effect in effect_calls):
            yield Fault(index, "after", "timeout")


def _user_agent_once(client: Any) -> None:
    """Powertools' idempotency layer registers a User-Agent handler on its DynamoDB client each time one is built
    (once per container in Lambda). The harness builds a dispatcher per delivery batch on one client: without
    this, hundreds of handlers would each rewrite the header of every request late in a scenario. A handler
    registered again for the same feature is kept once (botocore's `unique_id`)."""
    events = client.meta.events
    register = events.register

    def register_once(event_name: str, handler: Any, unique_id: Any = None, unique_id_uses_count: bool = False) -> None:
        if unique_id is None and getattr(handler, "__name__", "") == "add_powertools_feature":
            feature = [cell.cell_contents for cell in handler.__closure__ or ()]
            unique_id = f"powertools-user-agent-{event_name}-{feature}"
        register(event_name, handler, unique_id=unique_id, unique_id_uses_count=unique_id_uses_count)

    events.register = register_once


def _short(client: Any) -> Any:
    """python-jenkins with the harness's read timeout (the deployed worker's is 15 s)."""
    client.timeout = WIRE_READ_TIMEOUT_S
    return client


class Runner:
    """Runs one job to its end under a fault plan, redelivering as SQS would."""

    def __init__(self, harness: Harness, proxy: FaultProxy) -> None:
        self.h = harness
        self.plan = plan = FaultPlan()
        harness.wired(proxy)
        # Slack's rate limits on the harness's clock: a delivery deferred by a 429 comes back after its
        # Retry-After, as SQS brings it back, and the clock moves a poll interval per delivery.
        harness.slack.limits = RateLimits(clock=harness.clock.time)
        proxy.decide = plan.decide
        self.settings = settings = harness.settings()
        # One container's clients for every run (cheap); each delivery after a kill gets a new dispatcher.
        # The worker's role as the template grants it: a call AWS would refuse is refused here too.
        session = harness.worker_session()
        plan.hook_boto3(session)
        self.aws = AwsClients(settings, session=session, overrides=Config(read_timeout=WIRE_READ_TIMEOUT_S))
        _user_agent_once(self.aws.client("dynamodb"))
        self.sqs = aws_client("sqs", harness.moto.endpoint_url)
        self.dynamodb = aws_client("dynamodb", harness.moto.endpoint_url)
        self.web = plan.web_client(
            token="xoxb-test",
            base_url=settings.slack_api_url,
            timeout=WIRE_READ_TIMEOUT_S,
            retry_handlers=slack_retry_handlers(settings.slack_max_retries),
        )

    def worker(self) -> Any:
        settings, plan = self.settings, self.plan

        def webhook(url: str) -> WebhookClient:  # as the worker's replier makes them: on the Web API's pool
            return PooledWebhookClient(
                url, timeout=WIRE_READ_TIMEOUT_S, retry_handlers=slack_retry_handlers(2), pool=pool
            )

        pool = self.web.pool

        worker = build_dispatcher(
            settings,
            aws=self.aws,
            inventory=self.h.inventory,
            now=self.h.clock.now,
            jenkins=lambda: plan.jenkins(_short(jenkins_client(settings))),
            web=self.web,
            webhook=plan.webhook_factory(webhook),
        )
        worker.start_invocation(DyingContext())
        return worker

    def deliver_all(
        self, first: str, display: str, plan: FaultPlan, *, keep: list[str] | None = None, tick: float | None = None
    ) -> int:
        """Deliver `first` and what it queues until nothing is left; with `keep`, what it queues is kept there
        instead (delivered later by the caller). The clock moves `tick` (a poll interval) per delivery."""
        pending: list[tuple[str, int]] = [(first, 1)]
        worker = self.worker()
        deliveries = 0
        while pending:
            deliveries += 1
            assert deliveries <= MAX_DELIVERIES, f"{display} still running after {MAX_DELIVERIES} deliveries"
            body, receives = pending.pop(0)
            self.h.clock.advance(self.h.poll_s if tick is None else tick)
            try:
                feed = dataclasses.replace(build_alarm_feed(self.settings, worker), now=self.h.clock.time)
                if not feed.handle(body):  # as the handler routes a record
                    worker.handle_record(body, receives)
                failed, killed = False, plan.dead  # it died but did not notice: its message is not deleted
            except WorkerKilled:
                failed, killed = True, True
            except Exception:
                failed, killed = True, plan.dead  # the batch item failed: SQS delivers it again
            if failed or killed:
                pending.append((body, receives + 1))
            if killed:
                plan.revive()
                worker = self.worker()  # a new container; the message comes back after its visibility timeout
            queued = [m["Body"] for m in self.drain()]
            if keep is not None:
                keep.extend(queued)
            else:
                pending.extend((queued_body, 1) for queued_body in queued)
        return deliveries

    def drain(self) -> list[dict[str, Any]]:
        """What the worker queued (its next steps), taken off the queue to be delivered."""
        url = self.h.queues.queue_url
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def lease_free_of(self, lease: str) -> bool:
        item = self.dynamodb.get_item(TableName=self.h.tables.leases, Key={"target": {"S": lease}}, ConsistentRead=True)
        return "Item" not in item


# -- for a command author -------------------------------------------------------------------------------------

#: Counts a job's side effect at its target (the invalidations, builds, deployments this job made there).
EffectCounter = Callable[[Harness, JobEnvelope], int]


@dataclass
class Run:
    """One run of the job: its side effects at the target, the final messages its requester sees, its lease."""

    fault: Fault | None
    effects: int
    finals: int
    lease_free: bool
    deliveries: int
    #: The request the fault hit (its service and action), "" for a clean run.
    call: str = ""

    @property
    def cell(self) -> str:
        return f"{self.effects}/{self.finals}" + ("" if self.lease_free else " lease held")

    @property
    def label(self) -> str:
        return "clean" if self.fault is None else f"{self.fault.label} call {self.fault.index} ({self.call})"


@dataclass
class Proof:
    """Every run of a command under every fault on its path: `bad` lists the runs that were not exactly once."""

    line: str
    expected_effects: int
    runs: list[Run] = field(default_factory=list)

    @property
    def bad(self) -> list[Run]:
        return [r for r in self.runs if (r.effects, r.finals, r.lease_free) != (self.expected_effects, 1, True)]

    def table(self) -> str:
        """The runs by fault kind: `side effects/final messages xN`, as docs/guarantees.md shows opsbot's."""
        by_label: dict[str, Counter[str]] = {}
        for run in self.runs:
            label = "clean" if run.fault is None else run.fault.label
            by_label.setdefault(label, Counter())[run.cell] += 1
        lines = [f"{self.line}: {len(self.runs)} runs (side effects at the target / final messages seen)"]
        for label, cells in by_label.items():
            lines.append(f"  {label}: " + ", ".join(f"{cell} x{n}" for cell, n in sorted(cells.items())))
        lines.extend(f"  NOT EXACTLY ONCE: {run.label} -> {run.cell}" for run in self.bad)
        return "\n".join(lines)


def around(*services: str) -> Callable[[list[str]], set[int]]:
    """The requests to `services` (the command's own: `around("cloudfront")`), each with the request before it
    and the one after it (the intent written before a side effect, the step's outcome saved after): what a command
    adds to the executor's path. The executor's own requests (idempotency records, lease, audit, the queue,
    Slack) are the same for every command and faulted, each of them, by opsbot's own scenarios."""
    prefixes = tuple(f"{service}." for service in services)

    def pick(calls: list[str]) -> set[int]:
        own = {i for i, call in enumerate(calls) if call.startswith(prefixes)}
        return {j for i in own for j in (i - 1, i, i + 1) if 0 <= j < len(calls)}

    return pick


def prove_exactly_once(
    harness: Harness,
    line: str,
    *,
    effects: EffectCounter,
    effect_calls: tuple[str, ...] = (),
    expected_effects: int = 1,
    only: Callable[[list[str]], set[int] | None] = lambda calls: None,
) -> Proof:
    """Run the command `line` (as the ack would queue it, confirmed when its spec asks) clean, then once per fault
    on every request of its path; each run counted at the target by `effects(harness, job)`. `effect_calls` names
    the requests that make the side effect (`"cloudfront.POST /2020-05-31/distribution/"`: its answer is also held
    back past the read timeout). `only(calls)` may narrow the requests faulted (None: all): `only=around("cloudfront")`
    faults the command's own requests and those next to them, in seconds rather than minutes."""
    proxy = FaultProxy()
    try:
        runner = Runner(harness, proxy)
        clean = _run(runner, line, None, effects)
        proof = Proof(line, expected_effects, [clean])
        if (clean.effects, clean.finals, clean.lease_free) != (expected_effects, 1, True):
            return proof  # the clean run is already wrong: nothing to enumerate
        calls = list(runner.plan.calls)
        for fault in faults_of(calls, only(calls), effect_calls or EFFECT_CALLS):
            proof.runs.append(_run(runner, line, fault, effects, calls))
        return proof
    finally:
        proxy.close()


def _run(runner: Runner, line: str, fault: Fault | None, effects: EffectCounter, calls: list[str] | None = None) -> Run:
    harness, plan = runner.h, runner.plan
    plan.reset(fault)
    job = harness.job(line)
    spec = spec_for_kind(job.kind)
    if spec is not None and spec.confirm:  # the Confirm click's job: it replaces the prompt
        job = job.changed(confirmed_by=job.requester.user_id, replace_original=True)
    deliveries = runner.deliver_all(job.to_message(), line, plan)
    lease = spec.target_of(job.args) if spec is not None else None
    finals = visible_final_messages(harness.slack.messages(job=job.job_id))
    call = calls[fault.index] if calls and fault is not None and fault.index < len(calls) else ""
    lease_free = lease is None or runner.lease_free_of(lease)
    return Run(fault, effects(harness, job), finals, lease_free, deliveries, call)


def final_text(harness: Harness, job: JobEnvelope) -> str:
    """The final messages the requester of `job` saw, as JSON lines (for an assertion's message)."""
    return "\n".join(json.dumps(r.payload) for r in harness.slack.messages(job=job.job_id) if r.final)
