"""Send a slash command through a running local stack and follow its job to the final message."""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from pydantic import TypeAdapter

from infra.devstack._http import urlopen
from infra.devstack.errors import CommandLineError, IngressUnreachableError
from infra.devstack.slack_api import MessageRecord, format_record
from infra.devstack.slack_request import PostResult, SignedRequest, SlashCommand, post, sign, signed_slash_command

_QUEUED = re.compile(r"queued as job `([0-9a-f]{8})`")
_RECORDS = TypeAdapter(list[MessageRecord])


@dataclass(frozen=True)
class Target:
    """Where to send: the ingress's Slack route, the local Slack API, and the secret to sign with."""

    events_url: str
    slack_url: str
    signing_secret: str


@dataclass
class CommandOutcome:
    """What happened to one slash command: the ack, the job's messages, and whether it finished."""

    line: str
    ack: PostResult | None = None
    ack_text: str = ""
    job: str | None = None
    messages: list[MessageRecord] = field(default_factory=list)
    error: str | None = None

    @property
    def queued(self) -> bool:
        return self.job is not None

    @property
    def final(self) -> bool:
        return any(m.final for m in self.messages)

    @property
    def ok(self) -> bool:
        return self.queued and self.final and self.error is None


def parse_command_line(line: str) -> tuple[str, str]:
    """`/deploy-status payment` -> ("/deploy-status", "payment"); raise `CommandLineError` otherwise."""
    words = line.strip().split(maxsplit=1)
    if not words or not re.fullmatch(r"/[A-Za-z0-9][A-Za-z0-9_-]*", words[0]):
        raise CommandLineError(f"not a slash command: {line.strip()!r} (try `/ops-ping`)")
    return words[0], words[1] if len(words) > 1 else ""


def ack_text(body: str) -> str:
    """The text of an ack body: Bolt sends JSON with `text` (and maybe blocks); anything else is shown raw."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(payload, dict):
        return str(payload.get("text", "")).strip()
    return body.strip()


def fetch_messages(
    slack_url: str, *, key: str | None = None, job: str | None = None, after: int = 0, wait: float = 0.0
) -> list[MessageRecord]:
    """Messages the local Slack received (matching the key or the job), long-polling up to `wait` s."""
    query = {k: v for k, v in {"key": key, "job": job, "after": after, "wait": wait}.items() if v}
    try:
        with urlopen(f"{slack_url}/_messages?{urlencode(query)}", timeout=wait + 5) as response:
            return _RECORDS.validate_json(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise IngressUnreachableError(f"the local Slack API at {slack_url} did not answer: {exc}") from None


def run_command(
    line: str,
    target: Target,
    *,
    timeout: float = 30.0,
    ack_timeout: float = 3.0,
    user_id: str = "U0LOCALDEV",
    channel_id: str = "C0LOCALOPS",
    emit: Callable[[str], None] = print,
) -> CommandOutcome:
    """Sign and post the command, show the ack, then each message of its job until the final one."""
    outcome = CommandOutcome(line=line.strip())
    command, text = parse_command_line(line)
    key = secrets.token_urlsafe(12)
    request = signed_slash_command(
        SlashCommand(
            command=command,
            text=text,
            response_url=f"{target.slack_url}/response/{key}",
            user_id=user_id,
            channel_id=channel_id,
        ),
        target.signing_secret,
    )
    emit(f"> {command} {text}".rstrip())
    try:
        outcome.ack = post(target.events_url, request, timeout=ack_timeout)
    except IngressUnreachableError as exc:
        outcome.error = str(exc)
        emit(f"no ack: {exc}")
        return outcome
    outcome.ack_text = ack_text(outcome.ack.body)
    emit(f"ack {outcome.ack.status} in {outcome.ack.latency_ms:.0f} ms: {outcome.ack_text or '(empty)'}")
    if outcome.ack.status != 200:
        outcome.error = f"the ack answered HTTP {outcome.ack.status}"
        return outcome
    match = _QUEUED.search(outcome.ack_text)
    if match is not None:
        outcome.job = match.group(1)
    elif not _confirm(outcome.ack.body, target, key, user_id, channel_id, ack_timeout, emit):
        outcome.error = "not queued"
        return outcome
    deadline = time.monotonic() + timeout
    last = 0
    while not outcome.final:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome.error = f"no final message for job {outcome.job or '(confirmed)'} within {timeout:g} s"
            emit(outcome.error)
            break
        for record in fetch_messages(target.slack_url, key=key, job=outcome.job, after=last, wait=min(1.0, remaining)):
            last = max(last, record.seq)
            queued = _QUEUED.search(record.text) if outcome.job is None else None
            outcome.job = queued.group(1) if queued else outcome.job
            outcome.messages.append(record)
            emit(format_record(record))
    return outcome


def _confirm(
    ack_body: str,
    target: Target,
    key: str,
    user_id: str,
    channel_id: str,
    timeout: float,
    emit: Callable[[str], None],
) -> bool:
    """An ack that is a confirmation prompt: click its Confirm button as the requester would (a signed
    `block_actions` whose response_url is the command's, so its messages are followed the same way)."""
    try:
        blocks = json.loads(ack_body).get("blocks") or []
        token = next(
            e["value"]
            for b in blocks
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if e.get("action_id") == "opsbot_confirm"
        )
    except (ValueError, AttributeError, StopIteration):
        return False
    emit("confirming: clicking Confirm as the requester")
    payload = {
        "type": "block_actions",
        "user": {"id": user_id},
        "team": {"id": "T0LOCAL"},
        "channel": {"id": channel_id},
        "trigger_id": secrets.token_hex(8),
        "response_url": f"{target.slack_url}/response/{key}",
        "actions": [{"action_id": "opsbot_confirm", "value": token}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, target.signing_secret)}
    clicked = post(target.events_url, SignedRequest(body=body, headers=headers), timeout=timeout)
    return clicked.status == 200
