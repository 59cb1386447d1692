"""Confirmation prompts: the job travels inside the prompt's Confirm button, signed, so the client cannot alter it.

The button's value is `base64url(job JSON) + "." + hex(HMAC-SHA256(key, payload))`, the key derived from the
app's signing secret (the ack holds it; nothing is stored). A click is accepted only with a valid MAC, from
the requester, within `CONFIRM_TTL_S` of the request. Slack limits a button's value to 2000 characters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ValidationError

from shared.commands import SettleArgs
from shared.errors import ConfirmationError
from shared.jobs import JobEnvelope, job_id_for

#: How long a prompt can be confirmed.
CONFIRM_TTL_S = 300
#: Slack's limit on a button's `value`.
MAX_BUTTON_VALUE = 2000

CONFIRM_ACTION = "opsbot_confirm"
CANCEL_ACTION = "opsbot_cancel"
#: How long a request waits for a second person's approval.
APPROVAL_TTL_S = 3600
APPROVE_ACTION = "opsbot_approve"
REJECT_ACTION = "opsbot_reject"


def _key(signing_secret: str) -> bytes:
    return hmac.new(signing_secret.encode(), b"opsbot-confirm-v1", hashlib.sha256).digest()


def seal(job: JobEnvelope, signing_secret: str) -> str:
    """The job as a tamper-proof button value."""
    payload = base64.urlsafe_b64encode(job.to_message().encode()).decode().rstrip("=")
    mac = hmac.new(_key(signing_secret), payload.encode(), hashlib.sha256).hexdigest()
    token = f"{payload}.{mac}"
    if len(token) > MAX_BUTTON_VALUE:
        raise ConfirmationError("the job is too large to carry in a confirmation prompt")
    return token


def unseal(token: str, signing_secret: str, *, now: datetime, ttl_s: int = CONFIRM_TTL_S) -> JobEnvelope:
    """The job a button carried, or `ConfirmationError` if it was altered, is malformed or has expired."""
    payload, dot, mac = token.rpartition(".")
    if not dot or not payload:
        raise ConfirmationError("the prompt's value is malformed")
    expected = hmac.new(_key(signing_secret), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise ConfirmationError("the prompt's value does not carry a valid signature")
    try:
        body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        job = JobEnvelope.model_validate_json(body)
    except (ValueError, ValidationError):
        raise ConfirmationError("the prompt's job is malformed") from None
    if (now - job.issued_at).total_seconds() > ttl_s:
        raise ConfirmationExpiredError("the prompt has expired")
    return job


class ConfirmationExpiredError(ConfirmationError):
    """The prompt is older than `CONFIRM_TTL_S`."""


def settlement(
    job: JobEnvelope,
    outcome: Literal["cancelled", "rejected", "expired"],
    by: str = "",
    *,
    approval: bool = False,
    target: str = "-",
) -> JobEnvelope:
    """The `settle` job ending the prompt (or approval request) of `job`: the worker decides it as `outcome`
    unless something else did first. It keeps the job's requester, response_url and issue time (whose age
    says whether the response_url still works); an expiry waits until the TTL has passed, rounded up, so it
    never comes before the ack refuses a click as expired. Its id is derived from the prompt's: the same
    settlement queued twice is one job."""
    ttl_s = APPROVAL_TTL_S if approval else CONFIRM_TTL_S
    not_before = job.issued_at + timedelta(seconds=ttl_s) if outcome == "expired" else job.issued_at
    args = SettleArgs(
        prompt_id=job.job_id,
        outcome=outcome,
        by=by,
        not_before=math.ceil(not_before.timestamp()),
        approval=approval,
        target=target,
    )
    return job.model_copy(
        update={
            "job_id": job_id_for(job.requester.team_id, f"{outcome}:{job.job_id}"),
            "args": args,
            "replace_original": outcome == "expired" and not approval,  # the prompt, through its response_url
        }
    )
