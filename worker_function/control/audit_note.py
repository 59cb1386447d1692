"""A decision the ack made (a denial), recorded by the dispatcher; nothing is sent to anyone."""

from __future__ import annotations

from shared.commands import AuditNoteArgs
from shared.jobs import JobEnvelope
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation
from worker_function.outcomes import NothingToPost


class AuditNoteOperation:
    """The operation of `audit_note` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: AuditNoteArgs, job: JobEnvelope, ctx: OperationContext) -> NothingToPost:
        return NothingToPost(reason="an audit note: recorded, nobody answered")


OPERATION: Operation[AuditNoteArgs] = AuditNoteOperation()
