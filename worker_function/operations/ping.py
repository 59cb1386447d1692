"""/ops-ping: proves the path end to end and reports how long the job waited in the queue."""

from __future__ import annotations

from shared.blockkit import SlackMessage, simple
from shared.commands.builtin.ping import PingArgs
from shared.jobs import JobEnvelope
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
        return pong(waited_ms, args.work_seconds, job.short_id)


OPERATION: Operation[PingArgs] = PingOperation()


def pong(waited_ms: float, worked_s: float, short_id: str) -> SlackMessage:
    work = f" and worked {worked_s:g} s" if worked_s else ""
    return simple(
        f":table_tennis_paddle_and_ball: pong: job `{short_id}` waited {waited_ms:.0f} ms in the queue{work}."
    )
