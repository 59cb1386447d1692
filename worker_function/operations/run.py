"""/ops-run <runbook> [target] [key=value ...]: a runbook's Step Functions execution, started once and followed.

The execution's name comes from the job (`shared.runbooks.execution_name`): StartExecution with the name and
input of a running execution returns it, so a retry finds the execution instead of starting another; a name
already used with other input (`ExecutionAlreadyExists`) is a permanent error, never a second execution. The
start still goes through the effect door (intent first, DescribeExecution on a retry), so a crash between the
call and the step's save is reconciled against Step Functions. Each later step reads the execution's history and
updates one progress message (`_runbook_view`); a state that waits for a person sends its task token to the jobs
queue (`worker_function/control/runbook_task.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import blockkit
from shared.commands.builtin.run import RunArgs
from shared.inventory_entries import Target
from shared.jobs import JobEnvelope
from shared.runbooks import (
    CANCELLED_ERROR,
    Runbook,
    check_definition,
    execution_arn,
    execution_input,
    execution_name,
    state_order,
)
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError
from worker_function.operations import OperationContext, Preview, StepResult, StepState, Wait
from worker_function.operations._runbook_view import final_message, progress_message, read_history
from worker_function.operations._runbook_view import history as events_of
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.store.intents import Intent
from worker_function.tracking import Stopped


class State(StepState):
    """The execution a run follows."""

    execution_arn: str


# --- the runbook, its state machine, its clients --------------------------------------------------------------


def _runbook(args: RunArgs, job: JobEnvelope, ctx: OperationContext) -> tuple[Runbook, str, Clients]:
    book = ctx.inventory.runbook(args.runbook)
    problem = book.refusal(args.target, args.parameters)
    if problem is not None:
        raise PermanentJobError(f"runbook `{args.runbook}`: {problem}")
    machine, clients = runbook_place(ctx, args.runbook, job)
    if machine is None:
        raise PermanentJobError(
            f"runbook `{args.runbook}` has no deployed state machine (deploy the stack with this inventory)"
        )
    return book, machine, clients


def runbook_place(ctx: OperationContext, name: str, job: JobEnvelope) -> tuple[str | None, Clients]:
    """The state machine of runbook `name` (None: not deployed) and the clients that reach it: its account's role
    for an existing one in another account (`account`), else the worker's own. Its waiting states are answered
    there too: a task token is its execution's account's."""
    book = ctx.inventory.runbooks.get(name)
    machine = (book.state_machine_arn if book else None) or ctx.settings.runbook_arns.get(name)
    if book is not None and book.account is not None:
        account = ctx.inventory.accounts[book.account]
        return machine, ctx.aws_for(Target(role_arn=account.role_arn, region=account.region), job)
    return machine, ctx.aws


def _input(args: RunArgs, job: JobEnvelope, ctx: OperationContext) -> str:
    target: dict[str, Any] | None = None
    if args.target is not None:
        found = ctx.inventory.targets[args.target]
        target = {"name": args.target, "environment": found.environment}
        if found.ecs is not None:
            target |= {"cluster": found.ecs.cluster, "service": found.ecs.service}
        if found.ec2 is not None:
            target |= {"tag": found.ec2.tag, "value": found.ec2.value}
    return execution_input(
        job_id=job.job_id,
        runbook=args.runbook,
        target=target,
        parameters=args.parameters,
        queue_url=ctx.settings.jobs_queue_url,
        requester=job.requester.user_id,
    )


def _title(args: RunArgs) -> str:
    on = f" on `{blockkit.escape(args.target)}`" if args.target else ""
    return f"Runbook `{blockkit.escape(args.runbook)}`{on}"


@dataclass(frozen=True)
class StartExecution:
    """StartExecution under the job's execution name: the same name and input return the running execution; a
    retry reconciles with DescribeExecution (the execution's ARN follows from its name)."""

    clients: Clients
    machine: str
    name: str
    document: str
    intent: Intent

    @property
    def arn(self) -> str:
        return execution_arn(self.machine, self.name)

    def call(self, intent: Intent) -> str:
        with _sfn_errors(f"cannot start state machine {self.machine}"):
            try:
                started = self.clients.once("stepfunctions").start_execution(
                    stateMachineArn=self.machine, name=self.name, input=self.document
                )
            except ClientError as exc:
                if _code(exc) != "ExecutionAlreadyExists":
                    raise
                found = self.reconcile(intent)  # ended already, or other input: the execution that has the name
                if found is None:
                    raise
                return found
        return str(started["executionArn"])

    def reconcile(self, intent: Intent) -> str | None:
        with _sfn_errors(f"cannot read execution {self.arn}"):
            try:
                described = self.clients.client("stepfunctions").describe_execution(executionArn=self.arn)
            except ClientError as exc:
                if _code(exc) == "ExecutionDoesNotExist":
                    return None
                raise
        if _same_input(described.get("input"), self.document):
            return str(described.get("executionArn") or self.arn)
        raise PermanentJobError(
            f"an execution named {self.name} of {self.machine} already exists with other input: not started again"
        )

    def assumed(self, intent: Intent) -> str:
        raise AssertionError("Step Functions shows its executions: never unknowable")


def _same_input(found: Any, expected: str) -> bool:
    try:
        return json.loads(str(found or "null")) == json.loads(expected)
    except ValueError:
        return False


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


#: Errors no retry can fix: the state machine is not there, or not ours to run.
_PERMANENT = {
    "StateMachineDoesNotExist": "the state machine does not exist",
    "StateMachineDeleting": "the state machine is being deleted",
    "InvalidArn": "the ARN is not valid",
    "InvalidExecutionInput": "the input is not valid",
    "InvalidName": "the execution name is not valid",
    "AccessDenied": "opsbot is not allowed to (IAM)",
    "AccessDeniedException": "opsbot is not allowed to (IAM)",
    "ExecutionDoesNotExist": "the execution does not exist",
}


@contextmanager
def _sfn_errors(what: str) -> Iterator[None]:
    """Step Functions errors no retry can fix become `PermanentJobError`; the others (throttling, 5xx after the
    SDK's retries) propagate, and SQS delivers the step again."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in _PERMANENT:
            raise PermanentJobError(f"{what}: {_PERMANENT[_code(exc)]}") from exc
        raise


class RunOperation:
    """The operation of `run` (see the module's docstring)."""

    state = State
    effects = (StartExecution,)
    permissions: tuple[Grant, ...] = (
        Grant(("states:StartExecution", "states:DescribeStateMachine"), on="state_machine"),
        Grant(("states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"), on="execution"),
    )

    def run(self, args: RunArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        _, machine, clients = _runbook(args, job, ctx)
        name = execution_name(job.job_id)
        document = _input(args, job, ctx)
        intent = ctx.intent(job, "sfn-execution", f"start runbook {args.runbook} as execution {name}", execution=name)
        arn = ctx.effect(StartExecution(clients, machine, name, document, intent))
        title = _title(args)
        return Wait(
            progress=job_messages.progress(f"{title} started: execution `{blockkit.escape(name)}`."),
            state=State(execution_arn=arn, summary="started"),
            delay_s=ctx.poll_delay(min(ctx.settings.poll_interval_s, 2.0)),
        )

    def resume(self, args: RunArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> StepResult:
        _, _, clients = _runbook(args, job, ctx)
        sfn = clients.client("stepfunctions")
        with _sfn_errors(f"cannot read execution {state.execution_arn}"):
            described = sfn.describe_execution(executionArn=state.execution_arn)
            history = read_history(events_of(sfn, state.execution_arn))
        status = str(described.get("status", "RUNNING"))
        now = ctx.now()
        title = _title(args)
        if status == "RUNNING":
            current = next((r for r in reversed(history.rows) if r.exited is None), None)
            summary = f"{current.name}: {current.status}" if current else "running"
            return Wait(
                progress=progress_message(title, history, state.execution_arn, now),
                state=state.changed(summary=summary[:200]),
                delay_s=ctx.poll_delay(),
            )
        started, stopped = described.get("startDate"), described.get("stopDate") or now
        took = (stopped - started).total_seconds() if started else 0.0
        return final_message(
            title,
            status,
            history,
            state.execution_arn,
            took,
            now,
            error=str(described.get("error") or ""),
            cause=str(described.get("cause") or ""),
        )

    def preview(self, args: RunArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The states it would go through (its definition, read with DescribeStateMachine) and the input it would
        start with; nothing is started."""
        _, machine, clients = _runbook(args, job, ctx)
        with _sfn_errors(f"cannot read state machine {machine}"):
            described = clients.client("stepfunctions").describe_state_machine(stateMachineArn=machine)
        try:
            definition = json.loads(described.get("definition") or "{}")
            check_definition(definition)
        except ValueError as exc:
            raise PermanentJobError(f"the definition of {machine} is not one opsbot can read: {exc}") from None
        names = state_order(definition)
        shown = " → ".join(blockkit.escape(blockkit.shorten(n, 80)) for n in names[:30])
        more = f" (and {len(names) - 30} more)" if len(names) > 30 else ""
        document = blockkit.escape(blockkit.shorten(_input(args, job, ctx), 1500))
        return Preview(
            now=[
                f"Runbook `{blockkit.escape(args.runbook)}`: state machine `{blockkit.escape(machine)}`",
                f"States: {shown}{more}",
            ],
            change=f"start execution `{blockkit.escape(execution_name(job.job_id))}` with input ```{document}```",
        )

    def stop(self, args: RunArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> Stopped:
        """/ops-cancel: StopExecution (the execution ends ABORTED; a waiting state's token is answered no more)."""
        _, _, clients = _runbook(args, job, ctx)
        sfn = clients.client("stepfunctions")
        with _sfn_errors(f"cannot stop execution {state.execution_arn}"):
            status = str(sfn.describe_execution(executionArn=state.execution_arn).get("status", ""))
            if status != "RUNNING":
                return Stopped(lines=[f"the execution had already ended: {status}"], completed=status)
            sfn.stop_execution(
                executionArn=state.execution_arn,
                error=CANCELLED_ERROR,
                cause=f"cancelled from Slack (job {job.short_id})",
            )
        return Stopped(lines=["its Step Functions execution stopped (it ends ABORTED)", "no later state runs"])


OPERATION: Resumable[RunArgs, Any] = RunOperation()
