"""Prompt tokens: the job travels inside a prompt's buttons, encrypted and authenticated, one token per button.

Button values are readable by everyone who sees the message (platform-facts: "Button values are readable"),
and the ack keeps no state (no DynamoDB on its path), so the job (with the requester's `response_url`, which
lets whoever holds it post into the requester's conversation) is encrypted, then MAC'd, with stdlib only:

    token = "o2." + purpose + "." + team + "." + requester + "." + expiry + "." + b64(nonce) + "." + b64(ct)
            + "." + b64(mac)
    keystream = HMAC-SHA256(enc_key, nonce || counter) blocks;  ct = job JSON XOR keystream
    mac = HMAC-SHA256(mac_key, version || purpose || team || requester || expiry || nonce || ct)

The two keys are derived from the signing secret (separate labels); the nonce is 16 random bytes per token.
A token says what it is for (`confirm`, `cancel`, `approve`, `reject`), whose request it is and until when it
holds, all under the MAC: `unseal` refuses it for another purpose, another team, another requester than the
job's, or after its expiry, before it decrypts anything. Slack limits a button's value to 2,000 characters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
from datetime import UTC, datetime, timedelta
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

Purpose = Literal["confirm", "cancel", "approve", "reject"]
PURPOSES: tuple[Purpose, ...] = ("confirm", "cancel", "approve", "reject")
#: The purpose a button's action stands for.
PURPOSE_OF_ACTION: dict[str, Purpose] = {
    CONFIRM_ACTION: "confirm",
    CANCEL_ACTION: "cancel",
    APPROVE_ACTION: "approve",
    REJECT_ACTION: "reject",
}
#: How long a token of each purpose holds, from the request.
TTL_OF: dict[Purpose, int] = {
    "confirm": CONFIRM_TTL_S,
    "cancel": CONFIRM_TTL_S,
    "approve": APPROVAL_TTL_S,
    "reject": APPROVAL_TTL_S,
}

_VERSION = "o2"
_NONCE_BYTES = 16
_BLOCK = hashlib.sha256().digest_size


def _keys(signing_secret: str) -> tuple[bytes, bytes]:
    root = signing_secret.encode()
    enc = hmac.new(root, b"opsbot-token-v2-encrypt", hashlib.sha256).digest()
    mac = hmac.new(root, b"opsbot-token-v2-mac", hashlib.sha256).digest()
    return enc, mac


def _keystream(enc_key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.new(enc_key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        for counter in range(math.ceil(length / _BLOCK))
    )
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(mac_key: bytes, fields: list[str], nonce: bytes, ciphertext: bytes) -> bytes:
    """Over every field, each length-prefixed (no two field lists give the same bytes)."""
    parts = [f.encode() for f in fields] + [nonce, ciphertext]
    message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return hmac.new(mac_key, message, hashlib.sha256).digest()


def expiry_of(job: JobEnvelope, purpose: Purpose) -> int:
    """When a token of `purpose` for `job` stops holding, epoch seconds."""
    return math.ceil((job.issued_at + timedelta(seconds=TTL_OF[purpose])).timestamp())


def seal(job: JobEnvelope, signing_secret: str, purpose: Purpose) -> str:
    """The job as a button value for `purpose`: secret, tamper-evident, bound to its requester and expiry."""
    if purpose not in PURPOSES:
        raise ConfirmationError(f"no such token purpose: {purpose}")
    enc_key, mac_key = _keys(signing_secret)
    nonce = os.urandom(_NONCE_BYTES)
    plain = job.to_message().encode()
    ciphertext = _xor(plain, _keystream(enc_key, nonce, len(plain)))
    fields = [_VERSION, purpose, job.requester.team_id, job.requester.user_id, str(expiry_of(job, purpose))]
    if any("." in field or not field for field in fields):
        raise ConfirmationError("the request's user or workspace cannot be carried in a prompt")
    token = ".".join([*fields, _b64(nonce), _b64(ciphertext), _b64(_mac(mac_key, fields, nonce, ciphertext))])
    if len(token) > MAX_BUTTON_VALUE:
        raise ConfirmationError("the job is too large to carry in a prompt")
    return token


def unseal(
    token: str,
    signing_secret: str,
    purpose: Purpose,
    *,
    now: datetime,
    team_id: str | None = None,
) -> JobEnvelope:
    """The job a button carried, or `ConfirmationError` if the token was altered or malformed, is for another
    purpose or another team, or has expired (`ConfirmationExpiredError`)."""
    parts = token.split(".")
    if len(parts) != 8 or parts[0] != _VERSION:
        raise ConfirmationError("the prompt's value is malformed")
    version, token_purpose, team, user, expiry, nonce_b64, ct_b64, mac_b64 = parts
    enc_key, mac_key = _keys(signing_secret)
    try:
        nonce, ciphertext, mac = _unb64(nonce_b64), _unb64(ct_b64), _unb64(mac_b64)
    except ValueError:
        raise ConfirmationError("the prompt's value is malformed") from None
    fields = [version, token_purpose, team, user, expiry]
    if not hmac.compare_digest(_mac(mac_key, fields, nonce, ciphertext), mac):
        raise ConfirmationError("the prompt's value does not carry a valid signature")
    if token_purpose != purpose:
        raise ConfirmationError("that button's value is not for this action")
    if team_id is not None and team != team_id:
        raise ConfirmationError("the prompt belongs to another workspace")
    if not expiry.isdigit() or now.astimezone(UTC).timestamp() > int(expiry):
        raise ConfirmationExpiredError("the prompt has expired")
    try:
        job = JobEnvelope.model_validate_json(_xor(ciphertext, _keystream(enc_key, nonce, len(ciphertext))))
    except (ValueError, ValidationError):
        raise ConfirmationError("the prompt's job is malformed") from None
    if (job.requester.user_id, job.requester.team_id) != (user, team):
        raise ConfirmationError("the prompt's value is malformed")
    return job


class ConfirmationExpiredError(ConfirmationError):
    """The token is past its expiry (`CONFIRM_TTL_S` or `APPROVAL_TTL_S` after the request)."""


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
