"""Command specs: one args model and one spec per command. The worker has one operation module per kind.

Adding a command: an args model and a `CommandSpec` here (and the model in `JobArgs`), plus
`worker_function/operations/<kind>.py`. Help text and usage are generated from the specs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from shared.errors import UsageError
from shared.holds import FREEZE_DEFAULT_MINUTES, FREEZE_MAX_MINUTES

# Target names (inventory keys, ECS service names): letters, numbers, hyphens and underscores, up to 255.
TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")]
#: Jenkins job names as the inventory lists them (folders with "/").
JobName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$")]
#: A build parameter's name: what Jenkins accepts in a form field.
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
#: `--since` / `--for` values: ASCII digits and a unit (m, h, d); 7d is 10080m, so five digits.
_SINCE = re.compile(r"^([0-9]{1,5})([mhd])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}
#: The dashes a flag may start with: `--`, and what Slack's smart punctuation makes of it (em dash, en dash).
_FLAG_DASHES = "-\u2014\u2013"
#: The flags the commands know, without their dashes.
_FLAGS = ("dry-run", "for", "since")


def flag_word(word: str) -> str:
    """A word as a flag: `--dry-run`, `--for` or `--since` typed with an em dash or an en dash (Slack's smart
    punctuation turns a typed `--` into an em dash) read as the flag; any other word as it is."""
    bare = word.lstrip(_FLAG_DASHES)
    if bare == word or not bare:
        return word
    name = bare.replace("\u2014", "-").replace("\u2013", "-").lower()
    return f"--{name}" if name in _FLAGS else word


def flag_words(words: list[str]) -> list[str]:
    return [flag_word(w) for w in words]


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PingArgs(_Args):
    kind: Literal["ping"] = "ping"
    #: Simulated work in seconds: shows that a slow job never delays the ack.
    work_seconds: float = Field(default=0.0, ge=0, le=60)


class _TargetArgs(_Args):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    #: An inventory target. v1 envelopes (issue 4) called it `service`; both names are read.
    target: TargetName = Field(validation_alias=AliasChoices("target", "service"))


class DeployStatusArgs(_TargetArgs):
    kind: Literal["deploy_status"] = "deploy_status"


class RestartArgs(_TargetArgs):
    kind: Literal["restart"] = "restart"


class StatusArgs(_TargetArgs):
    kind: Literal["status"] = "status"


class LogsArgs(_TargetArgs):
    kind: Literal["logs"] = "logs"
    #: How far back to look, in minutes (`--since 15m`, `2h`, `1d`; at most 7 days).
    since_minutes: int = Field(default=15, ge=1, le=7 * 1440)
    #: Text to look for, or a Logs Insights query (starting with fields/filter/stats/...).
    query: str = Field(default="", max_length=1000)


class BuildArgs(_Args):
    kind: Literal["build"] = "build"
    job: JobName
    parameters: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not _PARAM_NAME.match(name):
                raise ValueError(f"{name!r} is not a parameter name")
            if len(val) > 1000:
                raise ValueError(f"the value of {name} is longer than 1000 characters")
        return value


class RunArgs(_Args):
    kind: Literal["run"] = "run"
    #: A runbook of the inventory (`[runbooks.NAME]`).
    runbook: TargetName
    #: The inventory target it runs on, when the runbook names targets.
    target: TargetName | None = None
    parameters: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, str]) -> dict[str, str]:
        return BuildArgs._parameter_names(value)

    @property
    def leased(self) -> str:
        """What the run's lease is on: its target, or the runbook itself when it runs on none."""
        return self.target or f"runbook:{self.runbook}"


class MigrateArgs(_TargetArgs):
    kind: Literal["migrate"] = "migrate"
    #: The version to migrate to; the project's own default when left out.
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


#: `/ops-rollback <target> [revision]`: a revision number of the service's family, or a task definition ARN.
TASK_DEFINITION_ARN = (
    r"arn:aws(-cn|-us-gov)?:ecs:[a-z0-9-]{1,32}:[0-9]{12}:task-definition/[A-Za-z0-9_-]{1,255}:[1-9][0-9]{0,8}"
)
_REVISION = rf"^([1-9][0-9]{{0,8}}|{TASK_DEFINITION_ARN})$"


class RollbackArgs(_TargetArgs):
    kind: Literal["rollback"] = "rollback"
    #: The revision to go back to (its number, or the task definition's ARN); the one before the current when
    #: left out. That an ARN names the service's own family is checked by the worker (the ack does not ask ECS).
    revision: str | None = Field(default=None, pattern=_REVISION)


#: ECS runs at most 5,000 tasks per service (its service quota): no count above it parses.
MAX_TASKS = 5000


def _whole_number(value: Any) -> Any:
    """Typed counts are digits (`3`, `-1` for the bound's message), never `3.0` or `1e3`."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
        raise ValueError("not a whole number")
    return value


class ScaleArgs(_TargetArgs):
    kind: Literal["scale"] = "scale"
    #: The desired count of tasks; the inventory bounds it (`min` / `max` of the target's `ecs`).
    count: Annotated[int, BeforeValidator(_whole_number)] = Field(ge=0, le=MAX_TASKS)


class RegressionArgs(_Args):
    kind: Literal["regression"] = "regression"
    suite: TargetName


class HelpArgs(_Args):
    kind: Literal["help"] = "help"


#: Why a target is locked or an environment frozen: shown to whoever is refused, so kept to one readable line.
Reason = Annotated[str, Field(min_length=1, max_length=300)]


class LockArgs(_TargetArgs):
    kind: Literal["lock"] = "lock"
    reason: Reason


class UnlockArgs(_TargetArgs):
    kind: Literal["unlock"] = "unlock"


class FreezeArgs(_Args):
    kind: Literal["freeze"] = "freeze"
    #: An environment of the inventory's (prod, staging...).
    environment: TargetName
    reason: Reason
    #: How long the freeze lasts (`--for 2h`): 4 hours unless given, at most 7 days.
    for_minutes: int = Field(default=FREEZE_DEFAULT_MINUTES, ge=1, le=FREEZE_MAX_MINUTES)


class UnfreezeArgs(_Args):
    kind: Literal["unfreeze"] = "unfreeze"
    environment: TargetName


class NoticeArgs(_Args):
    """Not a command: a message for the requester queued by the ack, which never calls Slack's Web API
    itself (an Events API mention that does not parse is answered this way)."""

    kind: Literal["notice"] = "notice"
    text: str = Field(max_length=3000)
    #: Shown to the requester alone (chat.postEphemeral where they wrote), not posted in the thread.
    only_to_requester: bool = False
    #: The channel message it replaces with chat.update (a long job's progress message, once its response_url
    #: is spent): where, and its ts.
    update_channel: str | None = Field(default=None, max_length=32)
    update_ts: str | None = Field(default=None, max_length=32)


class AuditArgs(_Args):
    kind: Literal["audit"] = "audit"
    target: TargetName


class JobsArgs(_Args):
    kind: Literal["jobs"] = "jobs"
    #: Only the jobs on this target (and its lease); None: every job and every lease.
    target: TargetName | None = None


class CancelArgs(_Args):
    kind: Literal["cancel"] = "cancel"
    #: The job's short id as opsbot's messages show it (`7f3a2b1c`), or more of it.
    job_id: str = Field(pattern=r"^[0-9a-fA-F]{4,32}$")


class HomeArgs(_Args):
    """Not a command: the viewer opened the app's Home tab; the worker publishes it (views.publish)."""

    kind: Literal["home"] = "home"


class AuditNoteArgs(_Args):
    """Not a command: a decision the ack made (a denial) for the worker to record; nobody is answered."""

    kind: Literal["audit_note"] = "audit_note"
    #: A denial by the ack; a cancel the worker could not write at once (`operations/cancel.py`).
    event: Literal["denial", "cancel"] = "denial"
    target: str = Field(default="-", max_length=255)
    detail: str = Field(default="", max_length=500)


class ApprovalRequestArgs(_Args):
    """Not a command: the worker posts the request in the approvals channel with Approve / Reject buttons
    carrying `token` and `reject_token` (the job, sealed by the ack for each purpose; shared/confirm.py)."""

    kind: Literal["approval_request"] = "approval_request"
    token: str = Field(max_length=2000)
    reject_token: str = Field(default="", max_length=2000)
    approvers: list[str] = Field(max_length=50)
    channel: str = Field(max_length=32)
    rule: str = Field(max_length=64)
    #: The job awaiting approval (its decision record) and its target (its audit trail).
    job_id: str = Field(default="", max_length=64)
    target: str = Field(default="-", max_length=255)


class SettleArgs(_Args):
    """Not a command: ends the confirmation prompt or approval request of job `prompt_id` as cancelled,
    rejected or expired, unless something else decided it first (the worker keeps one decision per prompt).
    An expiry waits (re-queued with a delay) until `not_before`, epoch seconds."""

    kind: Literal["settle"] = "settle"
    prompt_id: str = Field(max_length=64)
    outcome: Literal["cancelled", "rejected", "expired"]
    by: str = Field(default="", max_length=32)
    not_before: int = 0
    approval: bool = False
    target: str = Field(default="-", max_length=255)


class RunbookTaskArgs(_Args):
    """Not a command: a runbook's state waits for a person (its task token came on the jobs queue, sent by the
    state itself): the worker asks with Approve / Reject (`worker_function/control/runbook_task.py`)."""

    kind: Literal["runbook_task"] = "runbook_task"
    #: The `/ops-run` job whose execution waits.
    job_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    state: str = Field(min_length=1, max_length=80)
    token: str = Field(min_length=1, max_length=4096)
    ask: str = Field(default="", max_length=500)


class RunbookAnswerArgs(_Args):
    """Not a command: Approve or Reject clicked on a runbook's waiting state; the clicker is the job's requester."""

    kind: Literal["runbook_answer"] = "runbook_answer"
    prompt_id: str = Field(pattern=r"^step-[0-9a-f]{24}$")
    answer: Literal["approve", "reject"]


#: The user commands: one `CommandSpec` each (below).
CommandArgs = (
    PingArgs
    | DeployStatusArgs
    | RestartArgs
    | RollbackArgs
    | ScaleArgs
    | StatusArgs
    | LogsArgs
    | BuildArgs
    | RunArgs
    | MigrateArgs
    | RegressionArgs
    | HelpArgs
    | AuditArgs
    | JobsArgs
    | CancelArgs
    | LockArgs
    | UnlockArgs
    | FreezeArgs
    | UnfreezeArgs
)
#: The worker's own messages (queued by the ack or the worker, never typed by a person): one `Pipeline` each.
ControlArgs = (
    NoticeArgs | AuditNoteArgs | ApprovalRequestArgs | SettleArgs | HomeArgs | RunbookTaskArgs | RunbookAnswerArgs
)

#: Typed anywhere in a mutating command's text: show what it would do, do nothing.
DRY_RUN_FLAG = "--dry-run"


class DryRunArgs(_Args):
    """A mutating command with `--dry-run`: `of` is the command's own args. The worker shows what it would do
    (`worker_function.operations.dry_run`) and changes nothing; its pipeline is `DRY_RUN_PIPELINE`."""

    kind: Literal["dry_run"] = "dry_run"
    of: Annotated[CommandArgs, Field(discriminator="kind")]


JobArgs = Annotated[CommandArgs | ControlArgs | DryRunArgs, Field(discriminator="kind")]


@dataclass(frozen=True)
class Pipeline:
    """What the worker does around a job's steps, as data: the executor reads this, never the kind's name."""

    #: Only recorded in the audit trail (the ack's denial notes): no step runs, nobody is answered.
    record_only: bool = False
    #: The worker's own message: it replaces the prompt it answers at any step, and has no request/outcome.
    control: bool = False
    #: Request, confirmation, start and outcome go in the audit trail.
    audited: bool = True
    #: Before the first step: the prompt's decision claimed, the policy checked again (user groups resolved).
    policy_checked: bool = True
    #: A rule's approval by a second person is claimed before the first step when the policy asks for one.
    approval: bool = True
    #: Runs only once its confirmation prompt's decision was claimed (`CommandSpec.confirm`).
    confirmed: bool = False
    #: Takes its target's lease (one mutating job per target; `CommandSpec.target`).
    lease: bool = False
    #: Its step only reads (`CommandSpec.reads_only`): run and reply share one idempotency record.
    reads_only: bool = False
    #: Publishes its duration and outcome as metrics.
    measured: bool = True
    #: Kept in the registry of jobs while it runs or waits (/ops-jobs, /ops-cancel; worker_function/store/jobs.py).
    tracked: bool = False


#: The pipelines of the worker's own messages.
CONTROL_PIPELINES: dict[str, Pipeline] = {
    "notice": Pipeline(control=True, audited=False, policy_checked=False, approval=False),
    "settle": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
    "audit_note": Pipeline(record_only=True, control=True, audited=False, policy_checked=False, approval=False),
    # Posting an approval request is the requested command's first stop: audited and checked, not approved.
    "approval_request": Pipeline(approval=False),
    # The viewer's App Home tab, published by the worker (the ack never calls the Web API).
    "home": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
    # A runbook's waiting state asked about, and answered: the answer's clicker is checked by its operation.
    "runbook_task": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
    "runbook_answer": Pipeline(control=True, audited=False, policy_checked=False, approval=False, measured=False),
}


#: A dry run: no prompt, no policy gate, no approval, no lease, no request/outcome audit (it records its own
#: `dry_run` event, with the policy's verdict), no metrics beside the command's own.
DRY_RUN_PIPELINE = Pipeline(audited=False, policy_checked=False, approval=False, measured=False)


#: What a command's target must be in the inventory (the worker checks; the ack does not load it).
#: ("target": any target; "environment": an environment some target, suite or Jenkins job of the inventory is in.)
Accepts = Literal[
    "ecs", "restartable", "status", "logs", "migration", "suite", "jenkins_job", "runbook", "target", "environment"
]


def parse_logs_words(words: list[str]) -> dict[str, Any]:
    """`<target> [--since 15m] [query words...]`."""
    if not words:
        raise UsageError("/ops-logs needs a target.")
    values: dict[str, Any] = {"target": words[0]}
    rest = words[1:]
    if rest and flag_word(rest[0]) == "--since":
        if len(rest) < 2:
            raise UsageError("--since needs a duration such as 15m, 2h or 1d.")
        values["since_minutes"] = _duration_minutes(rest[1], "--since", 7 * 1440)
        rest = rest[2:]
    if rest:
        values["query"] = " ".join(rest)
    return values


def _duration_minutes(word: str, flag: str, most: int) -> int:
    """A duration in minutes, refused in the units the person typed (never in minutes they did not type)."""
    match = _SINCE.match(word)
    if match is None:
        raise UsageError(f"{flag} must be a duration such as 30m, 2h or 1d, got {quoted(word)}.")
    minutes = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
    if minutes < 1:
        raise UsageError(f"{flag} must be at least 1m, got {quoted(word)}.")
    if minutes > most:
        raise UsageError(f"{flag} must be at most {_in_units(most)}, got {quoted(word)}.")
    return minutes


def _in_units(minutes: int) -> str:
    """`10080` as `7d (168h, 10080m)`: the limit in each unit a person may type it in."""
    parts = [f"{minutes // n}{unit}" for unit, n in (("d", 1440), ("h", 60)) if minutes % n == 0]
    return f"{parts[0]} ({', '.join([*parts[1:], f'{minutes}m'])})" if parts else f"{minutes}m"


def parse_lock_words(words: list[str]) -> dict[str, Any]:
    """`<target> <reason...>`: the reason is required (it is what everyone refused reads)."""
    if not words:
        raise UsageError("/ops-lock needs a target and a reason.")
    if len(words) < 2:
        raise UsageError("/ops-lock needs a reason after the target, e.g. `/ops-lock payment incident 42`.")
    return {"target": words[0], "reason": " ".join(words[1:])}


def parse_freeze_words(words: list[str]) -> dict[str, Any]:
    """`<environment> <reason...> [--for 2h]` (`--for` anywhere after the environment)."""
    if not words:
        raise UsageError("/ops-freeze needs an environment and a reason.")
    values: dict[str, Any] = {"environment": words[0]}
    rest = words[1:]
    flags = flag_words(rest)
    if flags.count("--for") > 1:
        raise UsageError("--for is given twice; give it once, e.g. `--for 2h`.")
    if "--for" in flags:
        at = flags.index("--for")
        if at + 1 >= len(rest):
            raise UsageError("--for needs a duration such as 30m, 2h or 1d.")
        values["for_minutes"] = _duration_minutes(rest[at + 1], "--for", FREEZE_MAX_MINUTES)
        rest = rest[:at] + rest[at + 2 :]
    if not rest:
        raise UsageError("/ops-freeze needs a reason after the environment, e.g. `/ops-freeze prod incident 42`.")
    values["reason"] = " ".join(rest)
    return values


def parse_build_words(words: list[str]) -> dict[str, Any]:
    """`<job> [key=value ...]`."""
    if not words:
        raise UsageError("/ops-build needs a Jenkins job.")
    parameters: dict[str, str] = {}
    for word in words[1:]:
        name, eq, value = word.partition("=")
        if not eq or not name:
            raise UsageError(f"build parameters are key=value, got {quoted(word)}.")
        parameters[name] = value
    return {"job": words[0], "parameters": parameters}


def parse_run_words(words: list[str]) -> dict[str, Any]:
    """`<runbook> [target] [key=value ...]`."""
    if not words:
        raise UsageError("/ops-run needs a runbook.")
    values: dict[str, Any] = {"runbook": words[0]}
    parameters: dict[str, str] = {}
    for word in words[1:]:
        name, eq, value = word.partition("=")
        if eq and name:
            parameters[name] = value
        elif "target" in values:
            raise UsageError(f"/ops-run takes one target, then key=value parameters; got {quoted(word)} too.")
        elif eq:
            raise UsageError(f"runbook parameters are key=value, got {quoted(word)}.")
        else:
            values["target"] = word
    return {**values, "parameters": parameters}


#: How a reply names each args field: the command's own words, never the model's.
_FIELD_WORDS = {
    "work_seconds": "seconds",
    "target": "the target",
    "service": "the target",
    "suite": "the suite",
    "job": "the Jenkins job",
    "version": "the version",
    "since_minutes": "--since",
    "query": "the query",
    "parameters": "the build parameters",
    "job_id": "the job id",
    "reason": "the reason",
    "environment": "the environment",
    "for_minutes": "--for",
    "revision": "the revision",
    "count": "the count",
    "runbook": "the runbook",
}
#: What a name must look like, per field, in plain words.
_PATTERN_WORDS = {
    "target": "target names are letters, digits, - and _, starting with a letter or digit (up to 255)",
    "service": "target names are letters, digits, - and _, starting with a letter or digit (up to 255)",
    "suite": "suite names are letters, digits, - and _, starting with a letter or digit (up to 255)",
    "job": "Jenkins job names are letters, digits, -, _, . and /, starting with a letter or digit (up to 255)",
    "version": "versions are letters, digits, ., +, - and _ (up to 128)",
    "runbook": "runbook names are letters, digits, - and _, starting with a letter or digit (up to 255)",
    "job_id": "a job id is the hex digits opsbot's messages show (`7f3a2b1c`), at least 4",
    "environment": "environment names are letters, digits, - and _, starting with a letter or digit (up to 255)",
    "revision": "the revision is a revision number such as 3 or a task definition ARN (arn:aws:ecs:REGION:ACCOUNT:"
    "task-definition/FAMILY:3)",
}


def quoted(value: object, limit: int = 40) -> str:
    """What a person typed, quoted and cut short (an ellipsis when cut) for a reply."""
    text = str(value)
    return "'" + (text if len(text) <= limit else text[: limit - 1] + "…") + "'"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain_problem(err: Any) -> str:
    """A pydantic error on a command's args in the command's own words: no field names, types or regexes."""
    field = str(err["loc"][0]) if err.get("loc") else ""
    word = _FIELD_WORDS.get(field, "an argument")
    got = quoted(err.get("input", ""))
    kind = err.get("type", "")
    limits = err.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float", "value_error") and field == "count":
        return f"{word} must be a whole number of tasks, got {got}."
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type", "finite_number"):
        return f"{word} must be a number, got {got}."
    if kind in ("greater_than_equal", "greater_than"):
        return f"{word} must be at least {_number(limits.get('ge', limits.get('gt')))}, got {got}."
    if kind in ("less_than_equal", "less_than"):
        return f"{word} must be at most {_number(limits.get('le', limits.get('lt')))}, got {got}."
    if kind == "string_pattern_mismatch":
        return f"{_PATTERN_WORDS.get(field, f'{word} is not valid')}, got {got}."
    if kind in ("string_too_long", "too_long"):
        return f"{word} is too long (at most {limits.get('max_length')})."
    if field == "parameters":
        return "build parameter names are letters, digits, _, . and - (up to 128), each value up to 1000 characters."
    return f"{word} is not valid, got {got}."


@dataclass(frozen=True)
class CommandSpec:
    """A slash command: how its text parses into its args model, and how to explain it."""

    name: str
    args_model: type[_Args]
    description: str
    #: Positional words of the text, in order, mapped to the args model's fields.
    positional: tuple[str, ...] = ()
    #: How many trailing positional words may be left out (their fields have defaults).
    optional: int = 0
    usage_hint: str = ""
    #: The args field naming what a mutating command changes: one mutating job per target at a time.
    target: str | None = None
    #: Words to field values, for texts that are more than positional words (flags, key=value).
    parse_words: Callable[[list[str]], dict[str, Any]] | None = None
    #: The args field naming an inventory entry, and what that entry must have (for help and errors).
    subject: str | None = None
    accepts: Accepts | None = None
    #: A job still running after this long is stopped and reported (its steps are continuations).
    max_age_s: int = 15 * 60
    #: Ask the requester to confirm (an ephemeral prompt with Confirm / Cancel) before queueing.
    confirm: bool = False
    #: Kept in the registry of jobs while it runs or waits (what /ops-jobs shows and /ops-cancel stops); None:
    #: the mutating commands are, the others (answered in one short step, nothing to cancel) are not.
    tracked: bool | None = None
    #: The policy's rules decide who may run it (False: anyone; the operation decides, as /ops-cancel does).
    guarded: bool = True
    #: Typed without its subject, answer with a picker of names (not for a command that also needs a reason).
    picker: bool = True
    #: Its operation changes nothing anywhere, its message aside: a retry may run it again (a read).
    reads_only: bool = False
    #: The args field naming what a read is about (any inventory name, or an environment) when the command has
    #: no `subject`: the policy decides it in that name's environment (`/ops-audit payment` is a prod read).
    reads_about: str | None = None

    @property
    def mutating(self) -> bool:
        return self.target is not None

    @property
    def pipeline(self) -> Pipeline:
        """What the worker does around this command's steps."""
        return Pipeline(
            confirmed=self.confirm,
            lease=self.mutating,
            reads_only=self.reads_only and not self.mutating,
            tracked=self.mutating if self.tracked is None else self.tracked,
        )

    def split_dry_run(self, text: str) -> tuple[str, bool]:
        """The text without `--dry-run` (wherever it was typed) and whether it was there; `UsageError` for a
        command that changes nothing (it has nothing to preview)."""
        words = text.split()
        flags = flag_words(words)
        if DRY_RUN_FLAG not in flags:
            return text, False
        if not self.mutating:
            mutating = ", ".join(spec.name for spec in COMMANDS if spec.mutating)
            if self.reads_only:
                raise UsageError(
                    f"{self.name} changes nothing, so it has no {DRY_RUN_FLAG} (the commands that do: {mutating})."
                )
            raise UsageError(
                f"{self.name} has no {DRY_RUN_FLAG}: leave it out to run it for real (the commands with a "
                f"{DRY_RUN_FLAG}: {mutating})."
            )
        return " ".join(w for w, f in zip(words, flags, strict=True) if f != DRY_RUN_FLAG), True

    def target_of(self, args: _Args) -> str | None:
        return None if self.target is None else str(getattr(args, self.target))

    @property
    def kind(self) -> str:
        return str(self.args_model.model_fields["kind"].default)

    @property
    def usage(self) -> str:
        return f"{self.name} {self.usage_hint}".strip()

    @property
    def summary(self) -> str:
        """The description as lists show it: with "Asks you to confirm first." for a command that does (the
        confirmation prompt itself shows the bare description)."""
        return f"{self.description} Asks you to confirm first." if self.confirm else self.description

    def parse(self, text: str) -> _Args:
        """Parse the slash command's text into its args model, or raise `UsageError`."""
        words = text.split()
        if self.parse_words is not None:
            values = self.parse_words(words)
        else:
            required = len(self.positional) - self.optional
            if not required <= len(words) <= len(self.positional):
                expected = (
                    "no arguments"
                    if not self.positional
                    else f"{required}"
                    + (f" to {len(self.positional)}" if self.optional else "")
                    + f" argument{'s' if len(self.positional) != 1 else ''}"
                )
                raise UsageError(f"{self.name} takes {expected}, got {len(words)}.")
            values = dict(zip(self.positional, words, strict=False))
        try:
            return self.args_model.model_validate(values)
        except ValidationError as exc:
            raise UsageError(plain_problem(exc.errors()[0])) from None


_HOUR = 3600

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        name="/ops-ping",
        args_model=PingArgs,
        description="Check that opsbot is alive end to end; optionally simulate N seconds of work.",
        positional=("work_seconds",),
        optional=1,
        usage_hint="[seconds]",
        reads_only=True,
    ),
    CommandSpec(
        name="/ops-status",
        args_model=StatusArgs,
        description="Health at a glance: running vs desired tasks or instance state and status checks, last events.",
        positional=("target",),
        usage_hint="<target>",
        subject="target",
        accepts="status",
        reads_only=True,
    ),
    CommandSpec(
        name="/deploy-status",
        args_model=DeployStatusArgs,
        description="A service's ECS deployments (rollout state, running/desired, task definition) and its "
        "CodePipeline stages.",
        positional=("target",),
        usage_hint="<target>",
        subject="target",
        accepts="ecs",
        reads_only=True,
    ),
    CommandSpec(
        name="/ops-restart",
        args_model=RestartArgs,
        description="Restart a target: ECS force new deployment followed until it completes, or EC2 reboot "
        "followed until status checks pass (one mutating job per target at a time).",
        positional=("target",),
        usage_hint="<target>",
        target="target",
        subject="target",
        accepts="restartable",
        max_age_s=_HOUR,
    ),
    CommandSpec(
        name="/ops-rollback",
        args_model=RollbackArgs,
        description="Roll an ECS service back to the previous task definition revision of its family (or the one "
        "named) and follow the deployment until it completes.",
        positional=("target", "revision"),
        optional=1,
        usage_hint="<target> [revision]",
        target="target",
        subject="target",
        accepts="ecs",
        max_age_s=_HOUR,
        confirm=True,
    ),
    CommandSpec(
        name="/ops-scale",
        args_model=ScaleArgs,
        description="Set an ECS service's desired count, within the inventory's bounds, and follow it until the "
        "running count matches.",
        positional=("target", "count"),
        usage_hint="<target> <count>",
        target="target",
        subject="target",
        accepts="ecs",
        max_age_s=_HOUR // 2,
        confirm=True,
    ),
    CommandSpec(
        name="/ops-logs",
        args_model=LogsArgs,
        description="Recent log lines of a target (CloudWatch Logs Insights), newest first; text to look for "
        "or an Insights query.",
        usage_hint="<target> [--since 15m] [query]",
        parse_words=parse_logs_words,
        subject="target",
        accepts="logs",
        reads_only=True,
    ),
    CommandSpec(
        name="/ops-build",
        args_model=BuildArgs,
        description="Run a Jenkins job with parameters and follow it to its result.",
        usage_hint="<job> [key=value ...]",
        parse_words=parse_build_words,
        target="job",
        subject="job",
        accepts="jenkins_job",
        max_age_s=4 * _HOUR,
    ),
    CommandSpec(
        name="/ops-run",
        args_model=RunArgs,
        description="Run a runbook (a Step Functions state machine) with parameters: each of its steps shown as it "
        "goes, a person asked where it says so, stopped by /ops-cancel.",
        usage_hint="<runbook> [target] [key=value ...]",
        parse_words=parse_run_words,
        target="leased",
        subject="runbook",
        accepts="runbook",
        max_age_s=24 * _HOUR,
    ),
    CommandSpec(
        name="/ops-migrate",
        args_model=MigrateArgs,
        description="Run a target's database migration (CodeBuild) and follow it to the end.",
        positional=("target", "version"),
        optional=1,
        usage_hint="<target> [version]",
        target="target",
        subject="target",
        accepts="migration",
        max_age_s=6 * _HOUR,
        confirm=True,
    ),
    CommandSpec(
        name="/ops-regression",
        args_model=RegressionArgs,
        description="Run a regression suite (CodeBuild) and report passed/failed/skipped tests.",
        positional=("suite",),
        usage_hint="<suite>",
        target="suite",
        subject="suite",
        accepts="suite",
        max_age_s=8 * _HOUR,
    ),
    CommandSpec(
        name="/ops-audit",
        args_model=AuditArgs,
        description="Recent history of a target: requests, denials, confirmations, starts and outcomes.",
        positional=("target",),
        usage_hint="<target>",
        reads_only=True,
        reads_about="target",
    ),
    CommandSpec(
        name="/ops-jobs",
        args_model=JobsArgs,
        description="What runs now and what waits (command, who, since when, step, lease), and who holds each "
        "target's lease.",
        positional=("target",),
        optional=1,
        usage_hint="[target]",
        tracked=False,
        reads_about="target",
    ),
    CommandSpec(
        name="/ops-cancel",
        args_model=CancelArgs,
        description="Stop a running or waiting job by its id: its next step does not run, its build is stopped "
        "(CodeBuild, Jenkins), its lease released. The requester's, or whom the policy lets cancel it.",
        positional=("job_id",),
        usage_hint="<job id>",
        tracked=False,
        guarded=False,
    ),
    CommandSpec(
        name="/ops-lock",
        args_model=LockArgs,
        description="Lock a target with a reason: its mutating commands are refused, naming you and why, until "
        "/ops-unlock (or 24 h).",
        usage_hint="<target> <reason>",
        parse_words=parse_lock_words,
        subject="target",
        accepts="target",
        picker=False,
    ),
    CommandSpec(
        name="/ops-unlock",
        args_model=UnlockArgs,
        description="Lift a target's lock (yours, or any if the policy's lock rule admits you).",
        positional=("target",),
        usage_hint="<target>",
        subject="target",
        accepts="target",
    ),
    CommandSpec(
        name="/ops-freeze",
        args_model=FreezeArgs,
        description="Freeze an environment with a reason: every mutating command on it is refused until the "
        "freeze ends (--for, default 4h, at most 7d) or /ops-unfreeze.",
        usage_hint="<environment> <reason> [--for 2h]",
        parse_words=parse_freeze_words,
        subject="environment",
        accepts="environment",
        picker=False,
    ),
    CommandSpec(
        name="/ops-unfreeze",
        args_model=UnfreezeArgs,
        description="End an environment's freeze.",
        positional=("environment",),
        usage_hint="<environment>",
        subject="environment",
        accepts="environment",
    ),
    CommandSpec(
        name="/ops-help",
        args_model=HelpArgs,
        description="The commands, their usage and the targets each accepts.",
        reads_only=True,
    ),
)

_BY_NAME = {spec.name: spec for spec in COMMANDS}
_BY_KIND = {spec.kind: spec for spec in COMMANDS}


def find_command(name: str) -> CommandSpec | None:
    return _BY_NAME.get(name.strip().lower())


def spec_for_kind(kind: str) -> CommandSpec | None:
    return _BY_KIND.get(kind)


def pipeline_for(kind: str) -> Pipeline:
    """The pipeline of a job kind: its command spec's, a dry run's (`DRY_RUN_PIPELINE`), or the control message's."""
    spec = _BY_KIND.get(kind)
    if spec is not None:
        return spec.pipeline
    return DRY_RUN_PIPELINE if kind == "dry_run" else CONTROL_PIPELINES[kind]
