"""/ops-ping: proves the path end to end and reports how long the job waited in the queue."""

from __future__ import annotations

from shared.blockkit import SlackMessage, simple
from shared.commands import PingArgs
from shared.jobs import JobEnvelope
from worker_function.operations import OperationContext


def run(args: PingArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
    waited_ms = (ctx.now() - job.issued_at).total_seconds() * 1000
    if args.work_seconds:
        ctx.sleep(args.work_seconds)
    return pong(waited_ms, args.work_seconds, job.short_id)


def pong(waited_ms: float, worked_s: float, short_id: str) -> SlackMessage:
    work = f" and worked {worked_s:g} s" if worked_s else ""
    return simple(
        f":table_tennis_paddle_and_ball: pong: job `{short_id}` waited {waited_ms:.0f} ms in the queue{work}."
    )
