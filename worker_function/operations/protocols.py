"""What an operation is: typed Protocols the registry checks each operation against when it is loaded.

An operation is an object (one per job kind; a module's `OPERATION`) with

- `run(args, job, ctx) -> StepResult`: the job's first step (every operation);
- `permissions`: the AWS actions it calls, per kind of inventory resource (`iam.Grant`); `()` for none;
- `effects`: the classes of the side effects it makes, each a `SideEffect` (`call`, `reconcile`, `assumed`)
  made through the intent door (`ctx.effect(...)`); `()` for an operation that changes nothing at a target;
- where it follows something long, `state` (its steps' typed state: a `StepState` subclass, or an
  `Annotated` union of them) and `resume(args, job, ctx, state) -> StepResult` (`Resumable`), both or neither;
- for a mutating command, `preview(args, job, ctx) -> Preview`: what its `--dry-run` shows (`Previewable`);
- where the target can stop what it started, `stop(args, job, ctx, state) -> Stopped` for `/ops-cancel`
  (`Stoppable`; only with `resume`).

`worker_function.operations.registry` pairs each command's spec with its operation and refuses, at load and
naming the command and the rule, an operation that breaks these rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from shared.commands.spec import Args
from shared.jobs import JobEnvelope
from worker_function.operations.iam import Grant

if TYPE_CHECKING:
    from worker_function.operations import OperationContext, Preview, StepResult, StepState
    from worker_function.tracking import Stopped

A = TypeVar("A", bound=Args, contravariant=True)
S = TypeVar("S", bound="StepState", contravariant=True)


@runtime_checkable
class Operation(Protocol[A]):
    """Every operation: its first step, and the side effects it makes (their classes)."""

    @property
    def effects(self) -> tuple[type[Any], ...]: ...

    #: The AWS actions it calls, per kind of inventory resource (the CDK app grants exactly these).
    @property
    def permissions(self) -> tuple[Grant, ...]: ...

    def run(self, args: A, job: JobEnvelope, ctx: OperationContext) -> StepResult: ...


@runtime_checkable
class Resumable(Operation[A], Protocol[A, S]):
    """An operation whose steps wait (`Wait`) and resume from their typed state."""

    #: What the state a step leaves validates as (`TypeAdapter(state)`): a `StepState` subclass, or an
    #: `Annotated` union of them with a discriminator.
    @property
    def state(self) -> Any: ...

    def resume(self, args: A, job: JobEnvelope, ctx: OperationContext, state: S) -> StepResult: ...


@runtime_checkable
class Previewable(Protocol[A]):
    """A mutating command's dry run: the target now and the change it would make, from read-only calls."""

    def preview(self, args: A, job: JobEnvelope, ctx: OperationContext) -> Preview: ...


@runtime_checkable
class Stoppable(Protocol[A, S]):
    """`/ops-cancel` of a running job: stop what it started at the target (a build), for its last state."""

    def stop(self, args: A, job: JobEnvelope, ctx: OperationContext, state: S) -> Stopped: ...
