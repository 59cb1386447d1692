"""The people of a chaos run: commands typed through the ack (signed requests, the ack in-process as Lambda
runs it, under its role), Confirm and Cancel pressed on prompts, Approve and Reject pressed on approval requests by
an approver, by the requester, by someone else, or by nobody (it expires). Each decision comes from the seed."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ack_function.handler import handle
from infra.devstack.demo import (
    APPROVALS_CHANNEL,
    INCIDENT_CHANNEL,
)
from shared.commands import ApprovalRequestArgs
from shared.confirm import APPROVAL_TTL_S
from shared.jobs import JobEnvelope, job_id_for
from shared.queue import SqsJobQueue
from tests.chaos.checker import EFFECT_OF
from tests.chaos.stack import OPS_CHANNEL, SECRET, TEAM
from tests.events import alarm_body, load_event, slash_body
from tests.fakes import FakeLambdaContext

if TYPE_CHECKING:
    from tests.chaos.world import Run


class _AckQueue(SqsJobQueue):
    """The ack's queue: real SQS under the ack's role; approval requests are noted (their job is the request's)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.stack.queues.queue_url, client=run.stack.ack_sqs)
        self.run = run

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str:
        if isinstance(job.args, ApprovalRequestArgs):
            self.run.aliases[job.job_id] = job.args.job_id
        return super().send(job, delay_seconds=delay_seconds)


@dataclass
class Pending:
    """A prompt or an approval request waiting for a person."""

    job: str
    user: str
    line: str
    blocks: list[dict[str, Any]] | None = None


class People:
    """What people do in a run (its state is the run's)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def _ack(self, body: bytes) -> dict[str, Any]:
        response = handle(self.run.ack_handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
        text = response.get("body") or "{}"
        try:
            return (
                dict(json.loads(text)) if response["statusCode"] == 200 else {"text": f"HTTP {response['statusCode']}"}
            )
        except ValueError:
            return {"text": text}

    def command(self, user: str, line: str) -> None:
        if line == "(alarm)":
            self._alarm()
            return
        if "{job}" in line:
            if not self.run.jobs:
                return
            line = line.replace("{job}", self.run.schedule.rng("cancel", self.run.requested).choice(self.run.jobs)[:8])
        self.run.requested += 1
        # Job ids of their own in every run (a replay must not find the builds of an earlier run of its seed at the
        # target); what is decided about a job is keyed by its number in the run instead (`Run.ordinal`).
        trigger = f"{self.run.schedule.seed}.{self.run.requested}.{self.run.nonce}"
        job_id = job_id_for(TEAM, trigger)
        self.run.ordinals[job_id] = f"request {self.run.requested}"
        for outcome in ("expired", "cancelled", "rejected"):  # the settle jobs of its prompt answer for it
            self.run.aliases[job_id_for(TEAM, f"{outcome}:{job_id}")] = job_id
        name, _, text = line.partition(" ")
        mutating = name in EFFECT_OF
        target = text.split(" ")[0] if text else ""
        self.run.history.add(
            "request", self.run.now(), job=job_id, target=target, user=user, line=line, command=name, mutating=mutating
        )
        body = slash_body(
            name,
            text,
            user_id=user,
            channel_id=OPS_CHANNEL,
            team_id=TEAM,
            response_url=self.run.stack.slack.response_url(job_id),
            trigger_id=trigger,
        )
        answer = self._ack(body)
        said = str(answer.get("text", ""))
        blocks = answer.get("blocks") or []
        if "is queued as job" in said:
            outcome = "queued"
        elif _button(blocks, "opsbot_confirm"):
            outcome = "prompt"
            self.run.prompts.append(Pending(job_id, user, line, blocks))
        elif "second person" in said:
            outcome = "approval"
            self.run.approvals.append(Pending(job_id, user, line))
        else:
            outcome = "refused"
        extra = {"expires_at": self.run.history.rel(time.time() + APPROVAL_TTL_S)} if outcome == "approval" else {}
        self.run.history.add("ack", self.run.now(), job=job_id, outcome=outcome, text=said, **extra)
        if outcome in ("queued", "prompt", "approval"):
            self.run.jobs.append(job_id)

    def _alarm(self) -> None:
        self.run._alarms += 1
        name = f"chaos-{self.run.schedule.seed}-{self.run._alarms}"
        body = alarm_body("sns", AlarmName=name)
        self.run.sqs.send_message(QueueUrl=self.run.stack.queues.queue_url, MessageBody=body)
        self.run.history.add("alarm", self.run.now(), job=f"alarm:{name}", channel=INCIDENT_CHANNEL)

    def click(self, user: str, action: str, value: str, job: str, *, channel: str, key: str) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": TEAM},
            "channel": {"id": channel},
            "trigger_id": f"{self.run.nonce}.click.{job[:8]}.{user}.{action}",
            "response_url": self.run.stack.slack.response_url(key),
            "actions": [{"action_id": f"opsbot_{action}", "value": value}],
        }
        answer = self._ack(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
        self.run.history.add(
            "click", self.run.now(), job=job, user=user, action=action, text=str(answer.get("text", ""))
        )

    def press_buttons(self) -> None:
        """People answer prompts (Confirm, Cancel, or nothing: it expires) and approval requests (an approver, the
        requester, someone else; Approve or Reject; or nobody: it expires)."""
        for prompt in list(self.run.prompts):
            rng = self.run.schedule.rng("prompt", self.run.ordinal(prompt.job))
            if rng.random() < 0.5:  # not yet: a later tick
                continue
            self.run.prompts.remove(prompt)
            choice = rng.choices(("confirm", "cancel", "none"), (7, 2, 1))[0]
            if choice != "none":
                value = _button(prompt.blocks or [], f"opsbot_{choice}")
                self.click(prompt.user, choice, value, prompt.job, channel=OPS_CHANNEL, key=prompt.job)
        for request in list(self.run.approvals):
            posted = self._approval_message(request.job)
            if posted is None:
                continue
            rng = self.run.schedule.rng("approval", self.run.ordinal(request.job))
            if rng.random() < 0.4:
                continue
            self.run.approvals.remove(request)
            user, action = rng.choices(
                (
                    ("U0DANA", "approve"),
                    ("U0DANA", "reject"),
                    (request.user, "approve"),
                    ("U0LOCALDEV", "approve"),
                    ("", ""),
                ),
                (6, 1, 1, 1, 1),
            )[0]
            if user:
                value = _button(posted, f"opsbot_{action}")
                self.click(user, action, value, request.job, channel=APPROVALS_CHANNEL, key=f"approval-{user}")

    def _approval_message(self, job: str) -> list[dict[str, Any]] | None:
        requests = {rid for rid, jid in self.run.aliases.items() if jid == job}
        for m in self.run.stack.slack.messages(channel=APPROVALS_CHANNEL):
            if m.kind == "chat.postMessage" and (m.job_id in requests or m.job_id == job):
                return list(m.payload.get("blocks") or [])
        return None


def _button(blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    return ""
