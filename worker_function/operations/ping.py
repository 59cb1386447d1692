"""/ops-ping: proves the path end to end and reports how long the job waited in the queue."""

from __future__ import annotations

from shared import messages
from shared.commands.builtin.ping import PingArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.operations import OperationContext
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation


class PingOperation:
    """The operation of `ping` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions: tuple[Grant, ...] = ()

    def run(self, args: PingArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        waited_ms = (ctx.now() - job.issued_at).total_seconds() * 1000
        if args.work_seconds:
            ctx.sleep(args.work_seconds)
        return messages.pong(waited_ms, args.work_seconds, job.short_id)


OPERATION: Operation[PingArgs] = PingOperation()
