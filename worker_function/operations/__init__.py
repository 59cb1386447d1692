"""One module per operation, named after the job kind, each with its `OPERATION` (`protocols`: what an
operation is; `registry`: each kind paired with its operation, checked when loaded).

An operation has `run(args, job, ctx)`, the job's first step, and, when it follows something long, `resume(args,
job, ctx, state)` for the steps after, with `state`: the typed state (a `StepState`) its steps leave. A
mutating one also has `preview(args, job, ctx) -> Preview`: what its `--dry-run` shows, from read-only calls
(`operations.dry_run` runs it). A step returns the final `SlackMessage`, or `Wait`: a progress message plus
the state the next step resumes from and how long to wait first. The dispatcher re-queues a waiting job
with that delay (SQS DelaySeconds <= 900): no Lambda sits idle while a build runs for hours; the state coming
back is validated as the operation's `state` (`registry.resume_state`). Raise `PermanentJobError` for what retrying
cannot fix; let transient errors propagate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from shared.blockkit import SlackMessage
from shared.inventory import Inventory
from shared.inventory_entries import Target
from shared.jobs import JobEnvelope
from shared.settings import WorkerSettings
from worker_function.clients import AwsClients, Clients
from worker_function.effects import SideEffect, effect
from worker_function.outcomes import NothingToPost, Said
from worker_function.store import AuditTrail, DecisionStore, Leases
from worker_function.store.holds import HoldStore
from worker_function.store.intents import Intent, IntentStore
from worker_function.store.jobs import JobRegistry

R = TypeVar("R")

#: The environment variable / build parameter that carries the intent's token to CodeBuild and Jenkins, so
#: that a retry can find the build this job started.
JOB_MARKER = "OPSBOT_JOB_ID"


class StepState(BaseModel):
    """What a waiting step leaves for the next one; an operation that waits subclasses it as its `State`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The last thing seen, all the executor reads: told when the job is stopped past its maximum age.
    summary: str = ""

    def changed(self, **changes: Any) -> Self:
        """A copy with `changes`, validated (`model_copy` would skip that)."""
        return type(self).model_validate({**self.model_dump(), **changes})


class Wait(BaseModel):
    """A step that must wait: what to show meanwhile, the state to resume from, and when to look again."""

    model_config = ConfigDict(frozen=True)

    progress: Said
    state: SerializeAsAny[StepState] = Field(default_factory=StepState)
    delay_s: float = Field(default=0, ge=0)


StepResult = SlackMessage | NothingToPost | Wait


class Preview(BaseModel):
    """What a mutating operation's `preview(args, job, ctx)` tells a dry run, from read-only calls alone: the
    target's state now and the change the command would make (opsbot's mrkdwn: the operation escapes what comes
    from elsewhere). The generic dry run (`operations.dry_run`) adds the policy, prompts, lease and holds."""

    model_config = ConfigDict(frozen=True)

    now: list[str] = Field(default_factory=list)
    change: str


class SlackPoster(Protocol):
    """The Slack Web API calls operations make (`slack_sdk.WebClient`)."""

    def chat_postMessage(self, *, channel: str, text: str | None = ..., blocks: Any = ...) -> Any: ...

    def chat_postEphemeral(self, *, channel: str, user: str, text: str | None = ..., blocks: Any = ...) -> Any: ...

    def chat_update(self, *, channel: str, ts: str, text: str | None = ..., blocks: Any = ...) -> Any: ...

    def views_publish(self, *, user_id: str, view: Any) -> Any: ...


class JobScheduler(Protocol):
    """Where an operation schedules a job (`shared.queue.SqsJobQueue`): an approval's expiry."""

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str: ...


class GroupResolver(Protocol):
    """Slack user-group members (`worker_function.groups.UserGroups`); None when Slack would not say."""

    def members(self, group: str) -> frozenset[str] | None: ...


class TargetAccountsLike(Protocol):
    """Each target's clients (`worker_function.accounts.TargetAccounts`)."""

    def for_target(self, target: Target, job_id: str) -> Clients: ...


def no_jenkins() -> Any:
    """The Jenkins factory of a worker with no Jenkins configured: a build job fails permanently."""
    from worker_function.errors import PermanentJobError

    raise PermanentJobError("no Jenkins is configured (JENKINS_URL)")


@dataclass
class OperationContext:
    """What an operation may use, all of it required: settings, inventory, clients, stores, the clock (tests
    pass recording fakes)."""

    settings: WorkerSettings
    aws: AwsClients
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    #: Where side effects write their intent first (`worker_function.effects`).
    intents: IntentStore
    inventory: Inventory
    #: Builds the Jenkins client on first use (python-jenkins is imported only by jobs that need it).
    jenkins_factory: Callable[[], Any]
    #: The audit trail (/ops-audit reads it).
    audit: AuditTrail
    #: The Slack Web API client (posting an approval request in its channel).
    slack: SlackPoster
    #: One decision per confirmation prompt or approval request (confirmed, approved, expired...).
    decisions: DecisionStore
    #: The jobs queue, for a job an operation schedules: an approval's expiry.
    queue: JobScheduler
    #: Slack user-group members, resolved through the Web API and cached per container: one resolver shared
    #: by the dispatcher's policy check (an Approve) and the operations (a Reject), so a group is listed once
    #: per cache period across jobs.
    groups: GroupResolver
    #: The registry of running and waiting jobs (/ops-jobs, /ops-cancel, App Home).
    jobs: JobRegistry
    #: The clients of each target's account and region (`aws_for`).
    accounts: TargetAccountsLike
    #: The targets' leases (who holds what: a cancel releases the cancelled job's; a dry run reads, never takes).
    leases: Leases
    #: Locks and freezes (`/ops-lock`, `/ops-freeze`; the executor reads them before a mutating command).
    holds: HoldStore
    _jenkins: Any = field(default=None, repr=False)

    def aws_for(self, target: Target, job: JobEnvelope) -> Clients:
        """The AWS clients for `target`: in its account (STS AssumeRole, session named for the job) and region,
        or the worker's own (`aws`) when it names neither. Every call an operation makes on a target, and the
        reconciliation of its intents, goes through the clients this returns; `AssumeRoleError` (refused, region
        not enabled: permanent) and `AssumeRoleThrottledError` (transient: SQS delivers the job again) come
        from here."""
        return self.accounts.for_target(target, job.job_id)

    @property
    def jenkins(self) -> Any:
        if self._jenkins is None:
            self._jenkins = self.jenkins_factory()
        return self._jenkins

    def group_members(self, group: str) -> frozenset[str] | None:
        """Members of a user group (`shared.policy.GroupMembers`); None when Slack would not say: the policy
        then treats the group as admitting nobody."""
        return self.groups.members(group)

    def effect(self, side: SideEffect[R]) -> R:
        """Make a side effect exactly once at its target (intent first; a retry reconciles)."""
        return effect(self.intents, side)

    def intent(self, job: JobEnvelope, name: str, what: str, **before: str) -> Intent:
        """The intent of the job's current step to make side effect `name`."""
        return Intent(job_id=job.job_id, step=job.step, name=name, what=what, before=before)

    def poll_delay(self, seconds: float | None = None) -> float:
        """How long a waiting step waits before the next look: the given time, or the poll interval."""
        return self.settings.poll_interval_s if seconds is None else seconds
