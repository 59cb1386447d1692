"""Approve / Reject on a runbook's waiting state: queued for the worker as the clicker's `runbook_answer` job.

The button names only the waiting state (`step-...`, not a secret: its task token stays in the worker's table);
who may answer, until when, and whether someone did first is decided by the worker against the state's record
(`worker_function/control/runbook_answer.py`). One job per clicker and answer: a double click is one job, run once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from shared.commands.control import RunbookAnswerArgs
from shared.jobs import JobEnvelope, Requester, job_id_for, utcnow
from shared.queue import JobQueue
from shared.runbooks import STEP_APPROVE_ACTION, STEP_REJECT_ACTION

STEP_ACTIONS = re.compile(f"^({STEP_APPROVE_ACTION}|{STEP_REJECT_ACTION})$")


def accept_step_click(
    *,
    action_id: str,
    value: str,
    user_id: str,
    team_id: str,
    channel_id: str,
    queue: JobQueue,
    now: Callable[[], datetime] = utcnow,
) -> JobEnvelope | None:
    """The answer job, queued (`EnqueueError` when it could not be: Slack shows the clicker the click failed);
    None for a button value that names no waiting state (nothing queued)."""
    answer = "approve" if action_id == STEP_APPROVE_ACTION else "reject"
    try:
        args = RunbookAnswerArgs(prompt_id=value, answer=answer)
    except ValueError:
        return None
    job_id = job_id_for(team_id, f"step:{value}:{user_id}:{answer}")
    job = JobEnvelope(
        job_id=job_id,
        command="/ops-run",
        text=f"({answer} a runbook step)",
        requester=Requester(user_id=user_id, team_id=team_id, channel_id=channel_id),
        args=args,
        issued_at=now(),
        correlation_id=job_id,
    )
    queue.send(job)
    return job
