"""Send a slash command through a running local stack and follow its job to the final message."""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import TypeAdapter

from infra.devstack._http import urlopen
from infra.devstack.blocks import unescape_mrkdwn
from infra.devstack.errors import CommandLineError, IngressUnreachableError
from infra.devstack.slack_api import MessageRecord, format_record, owned_key
from infra.devstack.slack_request import (
    PostResult,
    SignedRequest,
    SlashCommand,
    post,
    random_trigger_id,
    sign,
    signed_slash_command,
)
from shared.jobs import job_id_for
from shared.messages import WAITING_FOR_APPROVAL

_QUEUED = re.compile(r"queued as job `([0-9a-f]{8})`")
_RECORDS = TypeAdapter(list[MessageRecord])
#: What became of a command, as the CLI's exit code tells it.
Result = Literal["succeeded", "refused", "failed", "not answered", "waiting"]
#: Leading emoji of a final message that says nothing was run (denied, busy, unknown name, cancelled, expired),
#: the words that say it in the others, and the emoji of a failure (or of a job stopped past its maximum age).
_REFUSAL_MARKS = (":no_entry:", ":question:", ":heavy_multiplication_x:", ":hourglass:", ":point_right:")
_FAILURE_MARKS = (":x:", ":warning:")
_REFUSAL_WORDS = ("was not run", "nothing was run", "nothing was cancelled")
LOCAL_TEAM = "T0LOCAL"


@dataclass(frozen=True)
class Target:
    """Where to send: the ingress's Slack route, the local Slack API, and the secret to sign with."""

    events_url: str
    slack_url: str
    signing_secret: str
    #: Where the secret came from, named when the ack refuses the signature.
    secret_source: str = "the state file"


@dataclass
class CommandOutcome:
    """What happened to one slash command: the ack, the job's messages, and whether it finished."""

    line: str
    ack: PostResult | None = None
    ack_text: str = ""
    job: str | None = None
    messages: list[MessageRecord] = field(default_factory=list)
    error: str | None = None
    #: The ack was a Confirm / Cancel prompt that the CLI answered.
    prompted: bool = False

    @property
    def queued(self) -> bool:
        return self.job is not None

    @property
    def final(self) -> bool:
        return any(m.final for m in self.messages)

    @property
    def waiting(self) -> bool:
        """Sent for a second person's approval (by the ack, or by the worker after a Confirm): nothing ran yet."""
        answers = [self.ack_text, *(m.text for m in self.messages)]
        return any(WAITING_FOR_APPROVAL in text for text in answers) and not self.final_after_approval

    @property
    def final_after_approval(self) -> bool:
        """A final message after the approval request (approved and run, rejected, expired) while followed."""
        texts = [m.text for m in self.messages]
        asked = next((i for i, text in enumerate(texts) if WAITING_FOR_APPROVAL in text), None)
        return any(m.final for m in self.messages[(asked + 1 if asked is not None else 0) :])

    @property
    def ok(self) -> bool:
        return self.result == "succeeded"

    @property
    def result(self) -> Result:
        """What became of it, read from the ack and the final message's leading emoji and words."""
        if self.ack is None:
            return "not answered"
        if self.ack.status != 200:
            return "refused" if 400 <= self.ack.status < 500 else "failed"
        if self.waiting:
            return "waiting"
        final = next((m for m in reversed(self.messages) if m.final), None)
        if final is None:
            if self.queued or self.prompted or self.ack_text.startswith(":warning: The job queue did not confirm"):
                return "not answered"
            return "failed" if self.ack_text.startswith(":x:") else "refused"
        text = final.text.lstrip()
        if text.startswith(_REFUSAL_MARKS) or any(w in text.lower() for w in _REFUSAL_WORDS):
            return "refused"
        return "failed" if text.startswith(_FAILURE_MARKS) else "succeeded"


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
    slack_url: str,
    *,
    key: str | None = None,
    job: str | None = None,
    channel: str | None = None,
    after: int = 0,
    wait: float = 0.0,
) -> list[MessageRecord]:
    """Messages the local Slack received (matching the key, the job or the channel), long-polling up to `wait` s."""
    query = {k: v for k, v in {"key": key, "job": job, "channel": channel, "after": after, "wait": wait}.items() if v}
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
    on_prompt: Literal["confirm", "cancel"] = "confirm",
) -> CommandOutcome:
    """Sign and post the command, show the ack and its job's messages; answer a prompt with `on_prompt`."""
    outcome = CommandOutcome(line=line.strip())
    command, text = parse_command_line(line)
    key = owned_key(user_id, channel_id)
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
    emit(
        f"ack {outcome.ack.status} in {outcome.ack.latency_ms:.0f} ms: {unescape_mrkdwn(outcome.ack_text) or '(empty)'}"
    )
    if outcome.ack.status != 200:
        outcome.error = _http_error(outcome.ack.status, target)
        return outcome
    match = _QUEUED.search(outcome.ack_text)
    if WAITING_FOR_APPROVAL in outcome.ack_text:
        return outcome  # sent for approval: nothing more comes until someone else decides
    if match is not None:
        outcome.job = match.group(1)
    elif _answer_prompt(outcome.ack.body, target, key, user_id, channel_id, ack_timeout, emit, on_prompt):
        outcome.prompted = True
    else:
        outcome.error = "not queued"
        return outcome
    _follow(outcome, target.slack_url, key=key, timeout=timeout, emit=emit)
    return outcome


def run_mention(
    text: str,
    target: Target,
    *,
    timeout: float = 30.0,
    ack_timeout: float = 3.0,
    user_id: str = "U0LOCALDEV",
    channel_id: str = "C0LOCALOPS",
    emit: Callable[[str], None] = print,
) -> CommandOutcome:
    """`@opsbot <text>` as an Events API `app_mention`, followed by the job id derived from its event_id."""
    outcome = CommandOutcome(line=f"@opsbot {text.strip()}")
    event_id = "Ev" + secrets.token_hex(6).upper()
    ts = f"{time.time():.6f}"
    body = json.dumps(
        {
            "token": "localverificationtoken00",
            "team_id": LOCAL_TEAM,
            "api_app_id": "A0OPSBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": user_id,
                "text": f"<@U0OPSBOT> {text.strip()}",
                "ts": ts,
                "channel": channel_id,
                "event_ts": ts,
            },
        }
    ).encode()
    headers = {"Content-Type": "application/json", **sign(body, target.signing_secret)}
    emit(f"> {outcome.line} (app_mention in #{channel_id}, thread {ts})")
    try:
        outcome.ack = post(target.events_url, SignedRequest(body=body, headers=headers), timeout=ack_timeout)
    except IngressUnreachableError as exc:
        outcome.error = str(exc)
        emit(f"no ack: {exc}")
        return outcome
    emit(f"ack {outcome.ack.status} in {outcome.ack.latency_ms:.0f} ms")
    if outcome.ack.status != 200:
        outcome.error = _http_error(outcome.ack.status, target)
        return outcome
    outcome.job = job_id_for(LOCAL_TEAM, event_id)[:8]
    _follow(outcome, target.slack_url, key=None, timeout=timeout, emit=emit)
    return outcome


def _buttons(record: MessageRecord) -> list[dict[str, Any]]:
    blocks = record.payload.get("blocks") or []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return []
    return [
        e
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "actions"
        for e in b.get("elements", [])
        if isinstance(e, dict) and e.get("type") == "button"
    ]


def find_button(slack_url: str, label: str, channel: str | None) -> tuple[MessageRecord, dict[str, Any]] | None:
    """The newest channel message (posted or updated) with a button labelled `label`, and that button."""
    records = [m for m in fetch_messages(slack_url, channel=channel) if m.channel and m.ts]
    for record in reversed(records):
        button = next((b for b in _buttons(record) if b.get("text", {}).get("text") == label), None)
        if button is not None:
            return record, button
    return None


def click_button(
    label: str,
    target: Target,
    *,
    channel: str | None = None,
    timeout: float = 30.0,
    ack_timeout: float = 3.0,
    user_id: str = "U0LOCALDEV",
    emit: Callable[[str], None] = print,
) -> CommandOutcome:
    """Click the button labelled `label` on the newest message that has one (an alarm's runbook button) as
    `user_id`, signed as Slack signs it, and follow what it runs to its final message."""
    outcome = CommandOutcome(line=f"click {label!r}")
    found = find_button(target.slack_url, label, channel)
    if found is None:
        where = f"in {channel}" if channel else "in any channel"
        outcome.error = f"no message {where} has a button labelled {label!r}"
        return outcome
    record, button = found
    key = owned_key(user_id, str(record.channel))
    container = {"type": "message", "message_ts": record.ts, "channel_id": record.channel}
    emit(f"> clicking [{label}] on message {record.ts} in {record.channel} as {user_id}")
    try:
        outcome.ack = _click(target, button, key, user_id, str(record.channel), ack_timeout, container=container)
    except IngressUnreachableError as exc:
        outcome.error = str(exc)
        return outcome
    emit(f"ack {outcome.ack.status} in {outcome.ack.latency_ms:.0f} ms")
    if outcome.ack.status != 200:
        outcome.error = _http_error(outcome.ack.status, target)
        return outcome
    _follow(outcome, target.slack_url, key=key, timeout=timeout, emit=emit)
    return outcome


def _http_error(status: int, target: Target) -> str:
    """What a non-200 ack means, and what to do about it."""
    if status == 401:
        return (
            f"the signing secret does not match the stack's: the ack refused the signature (HTTP 401); this one "
            f"came from {target.secret_source}: use the one `opsbot local` printed (pass --secret, or unset "
            "SLACK_SIGNING_SECRET to read it from the state file)"
        )
    return f"the ack answered HTTP {status}"


def _follow(
    outcome: CommandOutcome, slack_url: str, *, key: str | None, timeout: float, emit: Callable[[str], None]
) -> None:
    """Show each message of the job (or of the response_url key) until the final one or the timeout."""
    deadline = time.monotonic() + timeout
    last = 0
    while not outcome.final:
        remaining = deadline - time.monotonic()
        if remaining <= 0:  # said once, on stderr, by the caller
            outcome.error = f"no final message for job {outcome.job or '(confirmed)'} within {timeout:g} s"
            break
        for record in fetch_messages(slack_url, key=key, job=outcome.job, after=last, wait=min(1.0, remaining)):
            last = max(last, record.seq)
            queued = _QUEUED.search(record.text) if outcome.job is None else None
            # The job a message names: "queued as job X", else its metadata (a prompt's answer names the prompt).
            outcome.job = queued.group(1) if queued else outcome.job or (record.job_id or "")[:8] or None
            outcome.messages.append(record)
            emit(format_record(record))


def _answer_prompt(
    ack_body: str,
    target: Target,
    key: str,
    user_id: str,
    channel_id: str,
    timeout: float,
    emit: Callable[[str], None],
    on_prompt: Literal["confirm", "cancel"],
) -> bool:
    """Click the prompt's Confirm (or Cancel) as the requester would, with the command's response_url."""
    try:
        blocks = json.loads(ack_body).get("blocks") or []
        buttons = [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]
        confirm = next(e for e in buttons if e.get("action_id") == "opsbot_confirm")
    except (ValueError, AttributeError, StopIteration):
        return False
    button = confirm if on_prompt == "confirm" else next((e for e in buttons if e is not confirm), None)
    if button is None:
        return False
    emit(f"{on_prompt.rstrip('e')}ing: clicking {button['text']['text']} as the requester")
    return _click(target, button, key, user_id, channel_id, timeout).status == 200


def _click(
    target: Target,
    button: dict[str, Any],
    key: str,
    user_id: str,
    channel_id: str,
    timeout: float,
    *,
    container: dict[str, Any] | None = None,
) -> PostResult:
    """Post a signed `block_actions` click of `button` as `user_id`, answered at the response_url of `key`."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id},
        "team": {"id": LOCAL_TEAM},
        "channel": {"id": channel_id},
        "trigger_id": random_trigger_id(),
        "response_url": f"{target.slack_url}/response/{key}",
        "actions": [{"type": "button", "action_id": button.get("action_id"), "value": button.get("value", "")}],
    }
    if container is not None:
        payload["container"] = container
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, target.signing_secret)}
    return post(target.events_url, SignedRequest(body=body, headers=headers), timeout=timeout)
