"""Exactly once, proven by enumeration on the wire: every operation, faulted at every request on its path.

The worker's requests go through the fault proxy (`infra.devstack.fault_proxy`), below the SDKs' own retries.
For each scenario the job first runs clean, which numbers the requests its deliveries send (DynamoDB, SQS,
ECS, EC2, CodeBuild, CodePipeline, Logs, Jenkins, Slack; an SDK's retry is a request of its own). Then, once
per request, a fresh copy of the job runs with that request refused before it reached the target, answered
503 after the target acted, its connection reset after the target acted, the worker killed after the target
acted, and (for the requests that make a side effect) its answer held back past the worker's read timeout;
SQS redelivery runs it to the end. Each run must show the side effect exactly once AT THE TARGET (moto's own
request recorder for ECS UpdateService and EC2 RebootInstances, the local CodeBuild's and Jenkins's builds),
exactly one final message the requester sees (the local Slack API's records), and the target's lease released.

The table (operation x fault -> side effects / final messages) is printed at the end of the module; with
OPSBOT_FAULT_TABLE=FILE it is also written to FILE as docs/guarantees.md shows it (`python -m infra.cli.docs
--fault-table FILE` puts it there).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from infra.devstack.aws import aws_client
from infra.devstack.demo import (
    INCIDENT_CHANNEL,
    JENKINS_JOB,
    MIGRATION_PROJECT,
    REGRESSION_PROJECT,
    DemoTimings,
    demo_inventory_toml,
    script_demo_builds,
)
from infra.devstack.fault_proxy import FaultProxy
from opsbot_testkit.exactly_once import EFFECT_CALLS, faults_of
from opsbot_testkit.exactly_once import Runner as BaseRunner
from opsbot_testkit.faults import (
    REPORT,
    Fault,
    FaultPlan,
    moto_count,
    moto_recorder,
    moto_requests,
    visible_final_messages,
    visible_finals,
)
from opsbot_testkit.harness import Harness
from shared.commands.control import RunbookAnswerArgs
from shared.confirm import CONFIRM_TTL_S, settlement
from shared.jobs import JobEnvelope, Requester, audit_target
from shared.runbooks import REJECTED_ERROR, TASK_MESSAGE_KEY, execution_arn, execution_name
from tests.events import alarm_body

#: Real seconds a runbook's execution may take to reach its waiting state (about one on a quiet machine; a bound, not
#: a timing: generous, as moto's interpreter thread waits its turn on a busy 2-core machine).
ASK_WAIT_S = 120.0

#: Seconds between a failed delivery and the next where real time matters (a prompt not yet expired): about a
#: visibility timeout.
VISIBILITY_S = 10.0

APPROVAL_RULE = """
[[policy.rules]]
name = "dba-migrate-prod"
commands = ["/ops-migrate"]
environments = ["prod"]
approvers = ["S0DBA"]
approval_channel = "C0APPROVALS"
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    line: str
    #: The lease key the job takes (None: it takes none).
    lease: str | None = None
    #: Counts the job's side effect at the target (None: the job has none).
    effect: Callable[[Harness, JobEnvelope, list[dict[str, Any]]], int] | None = None
    update: tuple[tuple[str, Any], ...] = ()
    approval: bool = False
    #: Text of the final message when the target cannot tell whether a killed attempt made the effect: then
    #: the effect is not made again (at most once) and the requester is told so.
    unknowable: str | None = None
    #: Puts the target in the state each run starts from (and back after the scenario), outside the fault plan.
    prepare: Callable[[Harness], None] | None = None
    #: Not a job: a CloudWatch alarm notification (SNS -> SQS), shown once in its channel (side effect and
    #: message are that one post).
    alarm: bool = False
    #: `/ops-cancel` of a job of this line, run to its first wait before each run (outside the fault plan); its
    #: next step is delivered after the cancel. The effect is the stop at its target; its requester and the
    #: canceller each see one final message, and they agree (cancelled, or completed before the cancel).
    cancels: str | None = None
    #: A confirmation prompt: its expiry is queued with it (as the ack does) and takes its first look, then the
    #: Confirm click's job runs, then the expiry comes due (and must find the prompt decided).
    prompt: bool = False
    #: Added to the harness's inventory (TOML) for this scenario.
    inventory: str = ""
    #: `answer` (Approve or Reject) on the waiting state of a job of this line (`/ops-run`), run until it waits
    #: and its state asked about (outside the fault plan); the run's next steps are delivered after the click's
    #: job. The effect is the waiting state answered at Step Functions; the run's requester sees one final
    #: message, and the state's message says who answered.
    answers: str | None = None
    answer: Literal["approve", "reject"] = "approve"

    def job(self, harness: Harness) -> JobEnvelope:
        job = harness.job("/ops-ping" if self.alarm else self.line)
        return JobEnvelope.model_validate({**job.model_dump(), **dict(self.update)}) if self.update else job


def _ecs_restarts(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    return moto_count(recorded, "UpdateService", '"payment"')


def _ecs_rollbacks(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    return moto_count(recorded, "UpdateService", '"taskDefinition"')


def _ecs_scales(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    return moto_count(recorded, "UpdateService", '"desiredCount"')


def _payment_as_provisioned(harness: Harness) -> None:
    """`payment` on the last demo revision with 2 tasks desired, as `provision_demo_ecs` left it."""
    ecs = aws_client("ecs", harness.moto.endpoint_url)
    ecs.update_service(cluster=harness.cluster, service="payment", taskDefinition="payment:2", desiredCount=2)


def _ec2_reboots(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    return moto_count(recorded, "RebootInstances")


def _codebuild(project: str) -> Callable[[Harness, JobEnvelope, list[dict[str, Any]]], int]:
    def count(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
        assert harness.codebuild is not None
        return sum(1 for b in harness.codebuild.builds_of(project) if b.started >= _run_started[0])

    return count


def _jenkins_builds(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    assert harness.jenkins is not None
    return sum(1 for q in harness.jenkins.queued if q.job == JENKINS_JOB and q.queued_at >= _run_started[0])


def _approval_posts(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    posted = harness.slack.messages(channel="C0APPROVALS")
    return sum(1 for m in posted if m.kind == "chat.postMessage" and m.seq > _run_started[1])


def _codebuild_stops(project: str) -> Callable[[Harness, JobEnvelope, list[dict[str, Any]]], int]:
    """Builds of `project` this run stopped at the target (the local CodeBuild stops a build once)."""

    def count(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
        assert harness.codebuild is not None
        ours = [b for b in harness.codebuild.builds_of(project) if b.started >= _run_started[0]]
        return sum(1 for b in ours if b.stopped_at is not None)

    return count


def _held_by(key: str, said: str) -> Callable[[Harness, JobEnvelope, list[dict[str, Any]]], int]:
    """A lock or a freeze: 1 when the job's item stands at the end and its final answer says so (a redelivery
    refused by its own earlier write would say otherwise)."""

    def count(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
        dynamodb = aws_client("dynamodb", harness.moto.endpoint_url)
        item = dynamodb.get_item(TableName=harness.tables.leases, Key={"target": {"S": key}}, ConsistentRead=True)
        owner = item.get("Item", {}).get("owner_job", {}).get("S", "")
        finals = [m.text for m in harness.slack.messages(job=job.job_id) if m.final]
        return int(owner.endswith(job.job_id) and bool(finals) and all(said in text for text in finals))

    return count


def _noted_machine(harness: Harness) -> tuple[Any, str]:
    sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
    found = sfn.list_state_machines()["stateMachines"]
    return sfn, next(m["stateMachineArn"] for m in found if m["name"] == "opsbot-noted")


def _executions_so_far(harness: Harness) -> None:
    """The executions there are before the run: the ones after it are this run's."""
    sfn, machine = _noted_machine(harness)
    _sfn_before.clear()
    _sfn_before.update(e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"])


def _executions(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
    """Executions of the harness's runbook started during this run, whatever their name (one per job)."""
    sfn, machine = _noted_machine(harness)
    started = sfn.list_executions(stateMachineArn=machine)["executions"]
    return sum(1 for e in started if e["executionArn"] not in _sfn_before)


_sfn_before: set[str] = set()


def _answered(kind: str) -> Callable[[Harness, JobEnvelope, list[dict[str, Any]]], int]:
    """The waiting state of the run's execution answered at Step Functions: `kind` events in its history
    (TaskSucceeded for an Approve, TaskFailed with opsbot.Rejected for a Reject)."""

    def count(harness: Harness, job: JobEnvelope, recorded: list[dict[str, Any]]) -> int:
        sfn = aws_client("stepfunctions", harness.moto.endpoint_url)
        arn = execution_arn(harness.runbook_arns["asked"], execution_name(job.job_id))
        events = sfn.get_execution_history(executionArn=arn)["events"]
        if kind == "TaskFailed":
            return sum(1 for e in events if (e.get("taskFailedEventDetails") or {}).get("error") == REJECTED_ERROR)
        return sum(1 for e in events if e["type"] == kind)

    return count


#: The harness's runbook: a state machine of one Pass state (tests/integration/runbooks/noted.asl.json).
NOTED_RUNBOOK = """
[runbooks.noted]
definition = "tests/integration/runbooks/noted.asl.json"
environment = "staging"
"""

#: The harness's runbook with a person in the middle (tests/integration/runbooks/asked.asl.json).
ASKED_RUNBOOK = """
[runbooks.asked]
definition = "tests/integration/runbooks/asked.asl.json"
environment = "staging"
approval_channel = "C0APPROVALS"
"""

#: (clock time, Slack seq) when the current run started: builds and posts after it are this run's.
_run_started: list[Any] = [0.0, 0]

CONFIRMED = (("confirmed_by", "U0ALICE"), ("replace_original", True))

SCENARIOS = [
    Scenario("ping", "/ops-ping"),
    Scenario("help", "/ops-help"),
    Scenario("deploy_status", "/deploy-status payment"),
    Scenario("status", "/ops-status payment"),
    Scenario("logs", "/ops-logs payment --since 1h ERROR"),
    Scenario("audit", "/ops-audit payment"),
    Scenario("restart (ECS)", "/ops-restart payment", lease="payment", effect=_ecs_restarts),
    Scenario(
        "restart (EC2)",
        "/ops-restart bastion",
        lease="bastion",
        effect=_ec2_reboots,
        unknowable="EC2 could not tell whether the reboot was sent",
    ),
    Scenario("build (Jenkins)", "/ops-build deploy-web", lease="deploy-web", effect=_jenkins_builds),
    Scenario(
        "migrate (confirmed)",
        "/ops-migrate payment 2024.06.1",
        lease="payment",
        effect=_codebuild(MIGRATION_PROJECT),
        update=CONFIRMED,
    ),
    Scenario(
        "rollback (confirmed)",
        "/ops-rollback payment",
        lease="payment",
        effect=_ecs_rollbacks,
        update=CONFIRMED,
        prepare=_payment_as_provisioned,
    ),
    Scenario(
        "scale (confirmed)",
        "/ops-scale payment 3",
        lease="payment",
        effect=_ecs_scales,
        update=CONFIRMED,
        prepare=_payment_as_provisioned,
    ),
    Scenario("regression", "/ops-regression smoke", lease="smoke", effect=_codebuild(REGRESSION_PROJECT)),
    Scenario(
        "runbook (Step Functions)",
        "/ops-run noted",
        lease="runbook:noted",
        effect=_executions,
        prepare=_executions_so_far,
        inventory=NOTED_RUNBOOK,
    ),
    Scenario(
        "runbook step (Approve click)",
        "Approve on the waiting state of /ops-run asked",
        lease="runbook:asked",
        effect=_answered("TaskSucceeded"),
        inventory=ASKED_RUNBOOK,
        answers="/ops-run asked",
    ),
    Scenario(
        "runbook step (Reject click)",
        "Reject on the waiting state of /ops-run asked",
        lease="runbook:asked",
        effect=_answered("TaskFailed"),
        inventory=ASKED_RUNBOOK,
        answers="/ops-run asked",
        answer="reject",
    ),
    Scenario(
        "migrate (approved)",
        "/ops-migrate payment",
        lease="payment",
        effect=_codebuild(MIGRATION_PROJECT),
        update=(("approved_by", "U0DAN"), ("confirmed_by", None)),  # approved instead of confirmed
        approval=True,
    ),
    Scenario("lock", "/ops-lock payment incident 42", effect=_held_by("payment", "is locked by <@U0ALICE>")),
    Scenario("freeze", "/ops-freeze staging incident 42", effect=_held_by("freeze#staging", "is frozen by")),
    Scenario("alarm", "(alarm notification) harness-* ALARM", alarm=True),
    Scenario(
        "cancel",
        "/ops-cancel <job of /ops-migrate payment 2024.06.1, building>",
        lease="payment",
        effect=_codebuild_stops(MIGRATION_PROJECT),
        cancels="/ops-migrate payment 2024.06.1",
    ),
    Scenario(
        "prompt (Confirm click)",
        "/ops-scale payment 3",
        lease="payment",
        effect=_ecs_scales,
        prepare=_payment_as_provisioned,
        prompt=True,
    ),
]

#: The harness's alarm route: each run's alarm has a name of its own (a new message, not an update).
ALARM_ROUTE = f"""
[alarms."harness-"]
prefix = true
target = "payment"
channel = "{INCIDENT_CHANNEL}"
runbook = ["/ops-status payment"]
"""


@dataclass
class Outcome:
    effects: int
    finals: int
    lease_free: bool
    deliveries: int
    final_text: str = ""
    #: What else was wrong (a cancel: the canceller's final messages, a contradiction, a second build).
    wrong: str = ""

    @property
    def cell(self) -> str:
        return f"{self.effects}/{self.finals}" + ("" if self.lease_free else " lease held") + self.wrong

    def exactly_once(self, scenario: Scenario, fault: Fault | None) -> bool:
        expected = 1 if scenario.effect or scenario.alarm else 0
        if self.wrong:
            return False
        if (self.effects, self.finals, self.lease_free) == (expected, 1, True):
            return True
        # EC2 cannot tell a lost answer from a call that never arrived: at most once, and the requester told.
        told = scenario.unknowable is not None and scenario.unknowable in self.final_text
        return told and fault is not None and (self.effects, self.finals, self.lease_free) in ((0, 1, True),)


class Runner(BaseRunner):
    """Runs one scenario's job to its end under a fault plan, redelivering as SQS would."""

    def __init__(self, harness: Harness, proxy: FaultProxy) -> None:
        super().__init__(harness, proxy)
        # Where a prompt's Confirm job and its due expiry began (`points`), and the last Slack message before it.
        self.clicked_at = self.due_at = self.due_seq = 0

    def points(self, scenario: Scenario, calls: list[str]) -> set[int] | None:
        """The requests of the clean run to fault (None: all). A prompt: its expiry's, and the Confirm's job's up
        to its side effect (the claim of the decision, the policy, the lease, the step's call); the rest of that
        job is the `scale (confirmed)` scenario's path, faulted there."""
        if not scenario.prompt:
            return None
        bodies = self.plan.bodies
        claim = next(i for i in range(self.clicked_at, self.due_at) if b"decided_at" in bodies[i])
        effect = next(i for i in range(claim, self.due_at) if any(e in calls[i] for e in EFFECT_CALLS))
        return set(range(self.clicked_at)) | set(range(effect + 1)) | set(range(self.due_at, len(calls)))

    def run(self, scenario: Scenario, fault: Fault | None) -> tuple[Outcome, list[str]]:
        plan = self.plan
        if scenario.prepare is not None:
            scenario.prepare(self.h)
        _run_started[:] = [self.h.clock.time(), max((m.seq for m in self.h.slack.messages()), default=0)]
        cancelled, kept = None, list[str]()  # the job a cancel scenario cancels, and its next step (delivered after)
        if scenario.cancels is not None:
            plan.reset(None)
            cancelled = JobEnvelope.model_validate({**self.h.job(scenario.cancels).model_dump(), **dict(CONFIRMED)})
            self.deliver_all(cancelled.to_message(), scenario.cancels, plan, keep=kept)
        asked = None
        if scenario.answers is not None:
            plan.reset(None)
            asked = self.h.job(scenario.answers)
            click = self._asked(asked, scenario.answers, scenario.answer, plan, kept)
        plan.reset(fault)
        if asked is not None:
            job = click
        elif cancelled is None:
            job = scenario.job(self.h)
        else:
            job = self.h.job(f"/ops-cancel {cancelled.short_id}")
        if scenario.prompt:
            job = self.h.job(scenario.line, confirmed=False)
        body = alarm_body("sns", AlarmName=f"harness-{uuid.uuid4().hex[:8]}") if scenario.alarm else job.to_message()
        moto_recorder(self.h.moto.endpoint_url, "reset-recording")
        moto_recorder(self.h.moto.endpoint_url, "start-recording")
        try:
            if scenario.prompt:
                deliveries = self._prompt_then_confirm(job, scenario.line, plan)
                job = job.changed(confirmed_by=job.requester.user_id)
            else:
                deliveries = self.deliver_all(body, scenario.line, plan)
            for step in kept:  # the cancelled job's next step comes after the cancel: it runs nothing, says nothing
                deliveries += self.deliver_all(step, scenario.line, plan)
        finally:
            moto_recorder(self.h.moto.endpoint_url, "stop-recording")
        if scenario.alarm:  # the alarm's posts in its channel: the side effect, and the message people see
            posted = self.h.slack.messages(channel=INCIDENT_CHANNEL, after=_run_started[1])
            posts = sum(1 for m in posted if m.kind == "chat.postMessage")
            return Outcome(posts, posts, True, deliveries), list(plan.calls)
        recorded = moto_requests(self.h.moto.endpoint_url)
        if asked is not None:  # the answer's effect and message are the run's
            job = asked
        effects = scenario.effect(self.h, job, recorded) if scenario.effect else 0
        if cancelled is not None:
            return self._cancel_outcome(cancelled, job, effects, deliveries), list(plan.calls)
        records = self.h.slack.messages(job=job.job_id)
        finals = visible_final_messages(records)
        text = "\n".join(json.dumps(r.payload) for r in records if r.final)
        # An expiry that finds its prompt decided says nothing (its message would replace the job's answer).
        late = self.h.slack.messages(key=job.job_id, job=job.job_id, after=self.due_seq) if scenario.prompt else []
        wrong = f" expiry posted {len(late)}" if late else ""
        if asked is not None:
            wrong += self._step_message_wrong(scenario)
        return Outcome(effects, finals, self._lease_free(scenario), deliveries, text, wrong), list(plan.calls)

    def _cancel_outcome(self, cancelled: JobEnvelope, cancel: JobEnvelope, effects: int, deliveries: int) -> Outcome:
        """The cancelled job's requester (its own message, replaced by how it ended) and the canceller (the
        cancel's answer) each see one final message, both saying the same ending; one build was started."""

        def finals_of(job: JobEnvelope) -> list[Any]:  # its response_url's messages and those naming the job
            return visible_finals(self.h.slack.messages(key=job.job_id, job=job.job_id, after=_run_started[1]))

        told, answered = finals_of(cancelled), finals_of(cancel)
        wrong = "" if len(answered) == 1 else f" canceller {len(answered)}"
        endings = {_ending(r.text) for r in [*told, *answered]}
        if len(endings) > 1 or None in endings:
            wrong += " contradiction: " + " / ".join(r.text.splitlines()[0][:80] for r in [*told, *answered])
        assert self.h.codebuild is not None
        builds = [b for b in self.h.codebuild.builds_of(MIGRATION_PROJECT) if b.started >= _run_started[0]]
        if len(builds) != 1:
            wrong += f" {len(builds)} builds"
        text = "\n".join(r.text for r in [*told, *answered])
        return Outcome(effects, len(told), self.lease_free_of("payment"), deliveries, text, wrong)

    def _step_message_wrong(self, scenario: Scenario) -> str:
        """The waiting state's message must end saying who answered it (not "too late", not still asking)."""
        said = "Approved by <@U0DAN>" if scenario.answer == "approve" else "Rejected by <@U0DAN>"
        updates = [
            m for m in self.h.slack.messages(channel="C0APPROVALS", after=_run_started[1]) if m.kind == "chat.update"
        ]
        if updates and said in updates[-1].text:
            return ""
        return f" step message: {updates[-1].text[:80] if updates else 'never updated'}"

    def _asked(
        self, run: JobEnvelope, display: str, answer: Literal["approve", "reject"], plan: FaultPlan, kept: list[str]
    ) -> JobEnvelope:
        """The run's first step (its execution started), then its waiting state's task message (it arrives when the
        execution gets there: real time), delivered until the state is asked about in #approvals; the run's next
        steps are kept. The Approve click's job, as the ack queues it for a second person."""
        self.deliver_all(run.to_message(), display, plan, keep=kept)
        deadline = time.monotonic() + ASK_WAIT_S
        while True:
            asked = [
                m for m in self.h.slack.messages(channel="C0APPROVALS", after=_run_started[1]) if "waits at" in m.text
            ]
            if asked:
                break
            said = [m.text[:300] for m in self.h.slack.messages(job=run.job_id)]
            why = f"it said {said}; kept {[b[:200] for b in kept]}"
            assert time.monotonic() < deadline, f"{display}: its waiting state was not asked about; {why}"
            kept.extend(m["Body"] for m in self.drain())
            for body in [b for b in kept if TASK_MESSAGE_KEY in b]:
                kept.remove(body)
                self.deliver_all(body, display, plan, keep=kept)  # its expiry's next look: after the click
            time.sleep(0.1)
        [button] = [e for b in asked[-1].payload["blocks"] if b["type"] == "actions" for e in b["elements"][:1]]
        job_id = f"{uuid.uuid4().hex}"
        return JobEnvelope(
            job_id=job_id,
            command="/ops-run",
            text=f"({answer} a runbook step)",
            requester=Requester(user_id="U0DAN", team_id="T0001", channel_id="C0APPROVALS"),
            args=RunbookAnswerArgs(prompt_id=button["value"], answer=answer),
            issued_at=self.h.clock.now(),
            correlation_id=job_id,
        )

    def _prompt_then_confirm(self, prompt: JobEnvelope, display: str, plan: FaultPlan) -> int:
        """A confirmation prompt's path: its expiry, queued by the ack with it, takes its first look (it registers
        the waiting prompt); then the Confirm click's job (the prompt's own job, confirmed) runs to its end; then
        the expiry comes due and must find the prompt decided. The first look's redeliveries come a visibility
        timeout apart (seconds), not a poll interval: the prompt has not expired when its Confirm is clicked."""
        expiry, kept = settlement(prompt, "expired", target=audit_target(prompt)), list[str]()
        deliveries = self.deliver_all(expiry.to_message(), display, plan, keep=kept, tick=VISIBILITY_S)
        confirmed = prompt.changed(confirmed_by=prompt.requester.user_id, replace_original=True)
        self.clicked_at = len(plan.calls)
        deliveries += self.deliver_all(confirmed.to_message(), display, plan)
        self.due_at = len(plan.calls)
        self.due_seq = max((m.seq for m in self.h.slack.messages()), default=0)
        self.h.clock.advance(CONFIRM_TTL_S)
        for body in kept:
            deliveries += self.deliver_all(body, display, plan)
        return deliveries

    def _lease_free(self, scenario: Scenario) -> bool:
        return scenario.lease is None or self.lease_free_of(scenario.lease)


def _ending(text: str) -> str | None:
    """How a cancel's message says the job ended: cancelled, or completed before the cancel (None: neither)."""
    if ("completed" in text and "before the cancel" in text) or "when the cancel reached it" in text:
        return "completed"
    if "was cancelled" in text:
        return "cancelled"
    return None


TABLE: list[tuple[str, str, int, Counter[str]]] = []
BAD: list[str] = []
UNKNOWABLE: list[str] = []


#: When set, the file the harness writes its table to, as docs/guarantees.md shows it (`python -m infra.cli.docs
#: --fault-table FILE` puts it there).
TABLE_FILE_ENV = "OPSBOT_FAULT_TABLE"

#: The table's columns after the scenario and its command: the fault labels each gathers.
DOC_COLUMNS = (
    ("refuse before",),
    ("error after",),
    ("reset after",),
    ("timeout after",),
    ("kill before", "kill after"),
)


def doc_table(started: RunFacts, ended: RunFacts) -> str:
    """The table in docs/guarantees.md's format: one row per scenario that ran, in SCENARIOS' order, and a
    line saying when, where and how long."""
    rows: dict[str, dict[str, Counter[str]]] = {}
    for name, label, _points, cells in TABLE:
        rows.setdefault(name, {})[label] = cells
    lines = [
        f"Run of {started.when}, revision {started.revision}, {len(rows)} scenarios in {ended.since(started)} "
        f"({ended.machine}, one pytest process; load average {started.load:.1f} at the start, {ended.load:.1f} at "
        "the end).",
        "",
        "| scenario | command | refused before | 503 after | reset after | timeout after | killed (before the first "
        "request, after each) |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        if scenario.name not in rows:
            continue
        cells = []
        for labels in DOC_COLUMNS:
            counted: Counter[str] = Counter()
            for label in labels:
                counted.update(rows[scenario.name].get(label, Counter()))
            cells.append(", ".join(f"{cell} x{n}" for cell, n in sorted(counted.items())))
        lines.append(f"| {scenario.name} | `{scenario.line}` | {' | '.join(cells)} |")
    lines.extend(f"\nNot exactly once: {line}" for line in BAD)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RunFacts:
    """What a figure must say: when, on which revision and machine, under what load."""

    at: float
    when: str
    load: float
    revision: str
    machine: str

    @classmethod
    def now(cls) -> RunFacts:
        import os
        import platform
        import subprocess
        import time
        from datetime import UTC, datetime

        def git(*args: str) -> str:
            done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
            return done.stdout.strip()

        revision = git("rev-parse", "--short", "HEAD") or "unknown"
        if git("status", "--porcelain", "--untracked-files=no"):
            revision += " with uncommitted changes"
        return cls(
            at=time.monotonic(),
            when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            load=os.getloadavg()[0],
            revision=revision,
            machine=f"{os.cpu_count()}-core {platform.machine()} {platform.system()}",
        )

    def since(self, start: RunFacts) -> str:
        minutes, seconds = divmod(round(self.at - start.at), 60)
        return f"{minutes} min {seconds} s"


@pytest.fixture(scope="module", autouse=True)
def print_table() -> Iterator[None]:
    """The table goes into the terminal summary at the end of the session (`conftest.py`), and into the file
    `OPSBOT_FAULT_TABLE` names."""
    import os
    from pathlib import Path

    started = RunFacts.now()
    yield
    if os.environ.get(TABLE_FILE_ENV) and TABLE:
        Path(os.environ[TABLE_FILE_ENV]).write_text(doc_table(started, RunFacts.now()))
    REPORT.append("")
    REPORT.append("Exactly once, by fault injection (side effects at the target / final messages seen)")
    REPORT.append("| operation | fault | points | side effects / final messages (runs) |")
    REPORT.append("|---|---|---|---|")
    for name, label, points, cells in TABLE:
        outcomes = ", ".join(f"{cell} x{n}" for cell, n in sorted(cells.items()))
        REPORT.append(f"| {name} | {label} | {points} | {outcomes} |")
    REPORT.extend(f"at most once (the target cannot tell; the requester is told): {line}" for line in UNKNOWABLE)
    REPORT.extend(f"NOT EXACTLY ONCE: {line}" for line in BAD)


# A guard against a hang, not a time asserted: the rollback scenario's ~150 runs took over 300 s at a load of 12 on
# 2 cores.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_fault_on_the_path_still_runs_the_side_effect_once_and_answers_once(harness, scenario):
    toml = demo_inventory_toml(harness.cluster)
    # The strict local Slack's channels and scopes stay on; its rate limits do not: the harness replays a
    # scenario dozens of times in seconds (each run a fresh worker, its user-group cache empty).
    harness.slack.limits.enabled = False
    if scenario.approval:
        operators = 'commands = ["/ops-restart", "/ops-migrate"]'
        assert operators in toml, "the demo's prod operators rule changed: take /ops-migrate out of it here"
        toml = toml.replace(operators, 'commands = ["/ops-restart"]')
        toml += APPROVAL_RULE
        harness.slack.set_usergroup("S0DBA", ["U0DAN"])
    if scenario.alarm:
        toml += ALARM_ROUTE
    toml += scenario.inventory
    harness.inventory_toml = toml
    if scenario.inventory:  # its runbooks' state machines and their roles, as the stack deploys them
        harness.provision_runbooks()
    # Builds that end within one poll interval: a long job here is two steps (start, then its end).
    assert harness.codebuild is not None and harness.jenkins is not None
    # A build a cancel stops runs long: it must not end by itself while the cancel's deliveries move the clock.
    migration_s = 24 * 3600 if scenario.cancels else 60
    script_demo_builds(harness.codebuild, harness.jenkins, DemoTimings(migration_s=migration_s, regression_s=60))
    proxy = FaultProxy()
    runner = Runner(harness, proxy)
    expected_effects = 1 if scenario.effect or scenario.alarm else 0
    try:
        _enumerate(runner, scenario, expected_effects)
    finally:
        proxy.close()
        if scenario.prepare is not None:  # the session's cluster as the other tests expect it
            scenario.prepare(harness)


def _enumerate(runner: Runner, scenario: Scenario, expected_effects: int) -> None:
    """The clean run, then one run per fault point: its table rows, and an assertion that each was once."""
    clean, calls = runner.run(scenario, None)
    assert (clean.effects, clean.finals, clean.lease_free) == (expected_effects, 1, True), calls
    assert clean.exactly_once(scenario, None)
    only = runner.points(scenario, calls)

    by_label: dict[str, Counter[str]] = {}
    points: Counter[str] = Counter()
    bad = []
    for fault in faults_of(calls, only):
        outcome, faulted = runner.run(scenario, fault)
        once = outcome.exactly_once(scenario, fault)
        told = once and outcome.effects != expected_effects
        by_label.setdefault(fault.label, Counter())[outcome.cell + (" (told: unknowable)" if told else "")] += 1
        points[fault.label] += 1
        where = faulted[fault.index] if fault.index < len(faulted) else "?"
        if told:
            UNKNOWABLE.append(f"{scenario.name}: {fault.label} call {fault.index} ({where}) -> {outcome.cell}")
        if not once:
            bad.append(f"{scenario.name}: {fault.label} call {fault.index} ({where}) -> {outcome.cell}")
    TABLE.extend((scenario.name, label, points[label], cells) for label, cells in by_label.items())
    BAD.extend(bad)
    assert not bad, "\n".join(bad)
