"""Runbooks: multi-step operations kept as data, run on AWS Step Functions (`/ops-run`).

    [runbooks.restart-safely]
    description = "Scale up by one, restart, wait for the rollout, ask a second person, scale back"
    definition = "runbooks/restart-safely.asl.json"   # in this repository: the CDK app deploys it, with its own role
    # state_machine_arn = "arn:aws:states:eu-west-1:222222222222:stateMachine:restart"   # or an existing one
    # account = "prod-eu"                              # an existing one in a target account (the role opsbot assumes)
    environment = "prod"
    targets = ["payment", "checkout"]                  # what it may run on (`/ops-run restart-safely payment`)
    approvers = ["U0ONCALL", "S0SRE"]                 # who may answer its approval steps (never the requester)
    approval_channel = "C0APPROVALS"                  # where they are asked (default: where it was run)
    parameters = { reason = { pattern = "[A-Za-z0-9 ._-]{1,80}" }, mode = { values = ["fast", "slow"] } }

The execution's input is built by opsbot (`execution_input`): the target (its name and ECS service), the
parameters, and `opsbot`: the job id and the jobs queue's URL, which a state waiting for a person sends its task
token to (`TASK_MESSAGE_KEY`, see docs/runbooks.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.parameters import Parameter, ParameterName
from shared.parameters import refusal as parameter_refusal
from shared.policy import Environment

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")]
#: A Step Functions state machine's ARN (a name: letters, digits, - and _, up to 80).
StateMachineArn = Annotated[
    str,
    StringConstraints(
        pattern=r"^arn:aws(-cn|-us-gov)?:states:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
    ),
]
#: A definition file: a relative path inside the repository, ending in .json.
DefinitionPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\.json$")]
UserOrGroup = Annotated[str, StringConstraints(pattern=r"^[US][A-Z0-9]{2,31}$")]
Channel = Annotated[str, StringConstraints(pattern=r"^[CG][A-Z0-9]{2,31}$")]

#: The key of the message a state waiting for a person sends to the jobs queue (`TaskMessage`).
TASK_MESSAGE_KEY = "opsbot_task"
#: What a Reject answers the waiting state with (SendTaskFailure's error), and a cancel stops an execution with.
REJECTED_ERROR = "opsbot.Rejected"
CANCELLED_ERROR = "opsbot.Cancelled"
#: What opsbot fails a waiting state with when nobody answered within the runbook's `approval_minutes`.
EXPIRED_ERROR = "opsbot.Expired"
#: A waiting state's TimeoutSeconds is its runbook's `approval_minutes` plus this: opsbot's own expiry (a queue
#: message due at the end of `approval_minutes`, delivered within seconds) fails it first, with its error and cause;
#: Step Functions' timeout is the backstop if opsbot cannot.
EXPIRY_GRACE_S = 300
#: The buttons of a waiting state's prompt (their value: the state's prompt id, `prompt_id_of`).
STEP_APPROVE_ACTION = "opsbot_step_approve"
STEP_REJECT_ACTION = "opsbot_step_reject"
#: Who a task message's job is from (it has no Slack requester).
STEP_FUNCTIONS = "states"
_TASK_NAMESPACE = uuid.UUID("6f707362-6f74-4a6f-8200-737461746573")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Runbook(_Model):
    description: str = Field(default="", max_length=300)
    #: A definition file in this repository, deployed by the CDK app with a role of its own...
    definition: DefinitionPath | None = None
    #: ...or an existing state machine (in the worker's account, or through `account`'s role in another).
    state_machine_arn: StateMachineArn | None = None
    #: An `[accounts.NAME]` whose role the worker assumes to start and follow an existing state machine.
    account: Name | None = None
    environment: Environment = "staging"
    #: The inventory targets it may run on; none: it runs on no target (its lease is the runbook's own name).
    targets: list[Name] = Field(default_factory=list, max_length=100)
    #: The `key=value` parameters it takes (none listed: none), each with what its value may be.
    parameters: dict[ParameterName, Parameter] = Field(default_factory=dict, max_length=50)
    #: Who may answer its approval steps (user ids, user group ids); none: anyone but the requester.
    approvers: list[UserOrGroup] = Field(default_factory=list, max_length=50)
    approval_channel: Channel | None = None
    #: How long a waiting state takes an answer: opsbot fails it then (`EXPIRED_ERROR`); a definition's waiting
    #: states get their TimeoutSeconds from it (`waiting_timeout_s`), never a second number.
    approval_minutes: int = Field(default=60, ge=1, le=7 * 1440)

    @model_validator(mode="after")
    def _one_state_machine(self) -> Runbook:
        if (self.definition is None) == (self.state_machine_arn is None):
            raise ValueError("a runbook names either a definition file or a state_machine_arn (one of them)")
        if self.account is not None and self.state_machine_arn is None:
            raise ValueError("account is for an existing state machine (state_machine_arn) in another account")
        return self

    @field_validator("definition")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and ".." in Path(value).parts:
            raise ValueError("the definition file is a path inside the repository (no ..)")
        return value

    def refusal(self, target: str | None, parameters: Mapping[str, str]) -> str | None:
        """Why this runbook may not run on `target` with `parameters`, in plain words; None when it may."""
        if target is not None and target not in self.targets:
            allowed = ", ".join(self.targets) or "none: it takes no target"
            return f"it does not run on `{target}` (the targets it runs on: {allowed})"
        if target is None and self.targets:
            return f"it needs a target: one of {', '.join(self.targets)}"
        return parameter_refusal(self.parameters, parameters, "this runbook")


def state_machine_name(runbook: str) -> str:
    """The name of the state machine the stack deploys for a runbook defined in the repository (and the local
    stack creates): one per account and region."""
    return f"opsbot-{runbook}"[:80]


def execution_name(job_id: str) -> str:
    """The execution's name, from the job: a retry of the job starts (or finds) the same execution."""
    return f"opsbot-{job_id}"[:80]


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution named `name` of that state machine has (`...:execution:<machine>:<name>`)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def execution_input(
    *,
    job_id: str,
    runbook: str,
    target: Mapping[str, Any] | None,
    parameters: Mapping[str, str],
    queue_url: str,
    requester: str,
) -> str:
    """The input an execution starts with: the same text for the same job (StartExecution's idempotency
    compares it), keys sorted."""
    document = {
        "runbook": runbook,
        "target": dict(target) if target is not None else None,
        "parameters": dict(parameters),
        "opsbot": {"job_id": job_id, "queue_url": queue_url, "requester": requester},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


class TaskMessage(_Model):
    """What a state waiting for a person sends to the jobs queue, under `TASK_MESSAGE_KEY`:

    "MessageBody": {"opsbot_task": {"token.$": "$$.Task.Token", "job_id.$": "$$.Execution.Input.opsbot.job_id",
                    "state.$": "$$.State.Name", "ask": "Scale payment back down?"}}
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: str = Field(min_length=1, max_length=4096)
    job_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    state: str = Field(min_length=1, max_length=80)
    ask: str = Field(default="", max_length=500)

    @classmethod
    def parse(cls, body: str) -> TaskMessage | None:
        """The task message in a queue message's body; None when it is something else (a job, an alarm)."""
        if TASK_MESSAGE_KEY not in body[:200]:
            return None
        try:
            document = json.loads(body)
        except ValueError:
            return None
        if not isinstance(document, dict) or not isinstance(document.get(TASK_MESSAGE_KEY), dict):
            return None
        return cls.model_validate(document[TASK_MESSAGE_KEY])


def task_job(message: TaskMessage, now: datetime) -> Any:
    """The worker's own job for a task message (`RunbookTaskArgs`): its id from the token, so a redelivery of the
    message is the same job, run once."""
    from shared.commands.control import RunbookTaskArgs
    from shared.jobs import JobEnvelope, Requester

    digest = hashlib.sha256(message.token.encode()).hexdigest()
    job_id = str(uuid.uuid5(_TASK_NAMESPACE, digest).hex)
    return JobEnvelope(
        job_id=job_id,
        command="/ops-run",
        text=f"(waiting state {message.state})",
        requester=Requester(user_id=STEP_FUNCTIONS, team_id="-", channel_id="-"),
        args=RunbookTaskArgs(job_id=message.job_id, state=message.state, token=message.token, ask=message.ask),
        issued_at=now,
        correlation_id=message.job_id,
    )


def prompt_id_of(token: str) -> str:
    """The decision record of a waiting state: one per task token."""
    return "step-" + hashlib.sha256(token.encode()).hexdigest()[:24]


# --- The definition (Amazon States Language) ------------------------------------------------------------------

_STATE_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,80}$")


class DefinitionError(ValueError):
    """A definition file that is not a state machine opsbot can deploy (the message says why)."""


def load_definition(path: Path) -> dict[str, Any]:
    """The definition file as JSON, checked for what opsbot relies on: `StartAt` naming one of `States`, each
    state's `Next` naming one, state names Step Functions accepts."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DefinitionError(f"{path} is not JSON: {exc}") from None
    check_definition(document)
    return document


def check_definition(document: Any) -> None:
    if not isinstance(document, dict) or not isinstance(document.get("States"), dict) or not document["States"]:
        raise DefinitionError("a state machine definition has States")
    states: dict[str, Any] = document["States"]
    if document.get("StartAt") not in states:
        raise DefinitionError(f"StartAt {document.get('StartAt')!r} is not one of its States")
    for name, state in states.items():
        if not _STATE_NAME.match(name):
            raise DefinitionError(f"state name {name!r} is not one Step Functions accepts (1 to 80 characters)")
        if not isinstance(state, dict) or "Type" not in state:
            raise DefinitionError(f"state {name!r} has no Type")
        for key in ("Next", "Default"):
            if key in state and state[key] not in states:
                raise DefinitionError(f"state {name!r}: {key} {state[key]!r} is not one of its States")
        for choice in state.get("Choices") or []:
            if choice.get("Next") not in states:
                raise DefinitionError(
                    f"state {name!r}: a choice's Next {choice.get('Next')!r} is not one of its States"
                )


_WAITS_FOR_TOKEN = re.compile(r"^arn:aws[a-z-]*:states:::sqs:sendMessage\.waitForTaskToken$")


def waiting_timeout_s(approval_minutes: int) -> int:
    """The TimeoutSeconds of a runbook's waiting states: derived from its `approval_minutes`."""
    return approval_minutes * 60 + EXPIRY_GRACE_S


def with_waiting_timeouts(document: Mapping[str, Any], approval_minutes: int) -> dict[str, Any]:
    """A copy of the definition whose waiting states (`sqs:sendMessage.waitForTaskToken` tasks, nested ones
    included) time out as the runbook's `approval_minutes` says (`waiting_timeout_s`). A state that says another
    TimeoutSeconds, or a TimeoutSecondsPath, is a `DefinitionError` naming it: one number, in the inventory."""
    expected = waiting_timeout_s(approval_minutes)
    copied: dict[str, Any] = json.loads(json.dumps(document))

    def walk(machine: dict[str, Any]) -> None:
        for name, state in (machine.get("States") or {}).items():
            if state.get("Type") == "Task" and _WAITS_FOR_TOKEN.match(str(state.get("Resource", ""))):
                if "TimeoutSecondsPath" in state:
                    raise DefinitionError(
                        f"state {name!r}: a waiting state's timeout comes from the runbook's approval_minutes "
                        "(leave out TimeoutSecondsPath)"
                    )
                found = state.get("TimeoutSeconds", expected)
                if found != expected:
                    raise DefinitionError(
                        f"state {name!r}: TimeoutSeconds {found!r} is not what the runbook's approval_minutes "
                        f"({approval_minutes}) gives a waiting state ({expected} s: {approval_minutes} min and "
                        f"{EXPIRY_GRACE_S} s for opsbot to expire it): leave TimeoutSeconds out, the stack sets it"
                    )
                state["TimeoutSeconds"] = expected
            for branch in state.get("Branches") or []:
                walk(branch)
            for key in ("Iterator", "ItemProcessor"):
                if isinstance(state.get(key), dict):
                    walk(state[key])

    walk(copied)
    return copied


def deployed_definition(book: Runbook, root: Path) -> dict[str, Any]:
    """What the stack (and the local stack) deploys for a runbook defined in the repository: its definition file,
    checked, its waiting states' timeouts from `approval_minutes`."""
    assert book.definition is not None
    return with_waiting_timeouts(load_definition(root / book.definition), book.approval_minutes)


def task_resources(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(state name, resource ARN) of each Task state, nested Parallel and Map branches included."""
    found: list[tuple[str, str]] = []
    for name, state in (document.get("States") or {}).items():
        if state.get("Type") == "Task":
            found.append((name, str(state.get("Resource", ""))))
        for branch in state.get("Branches") or []:
            found.extend(task_resources(branch))
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(key), dict):
                found.extend(task_resources(state[key]))
    return found


def state_order(document: Mapping[str, Any]) -> list[str]:
    """The top-level states from StartAt along each Next/Default/Choice, then any not reached that way: the order a
    dry run lists them in."""
    states: Mapping[str, Any] = document.get("States") or {}
    order: list[str] = []
    pending = [document.get("StartAt")]
    while pending:
        name = pending.pop(0)
        if not isinstance(name, str) or name not in states or name in order:
            continue
        order.append(name)
        state = states[name]
        pending.extend([state.get("Next"), *[c.get("Next") for c in state.get("Choices") or []], state.get("Default")])
        pending.extend(c.get("Next") for c in state.get("Catch") or [])
    return order + [name for name in states if name not in order]
