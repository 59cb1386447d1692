"""The ack (signed slash commands and clicks, in-process) feeding the worker on moto and the local Slack API.

Jobs the ack queues are delivered to the worker by `deliver`; jobs the worker queues itself (a long job's
steps) by `follow`, which keeps expiry jobs aside so that a prompt expires only when a test says so
(`expire`: the worker's clock moves past the TTL, then the kept expiry jobs are delivered).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.handler import handle
from shared.commands import SettleArgs
from shared.inventory import Inventory
from shared.jobs import JobEnvelope
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "flow-signing-secret"


class Flow:
    def __init__(self, harness: Any, inventory_toml: str) -> None:
        harness.inventory_toml = inventory_toml
        self.harness = harness
        self.queue = RecordingQueue()
        self.handler = SlackRequestHandler(build_app(SECRET, self.queue, Inventory.from_toml(inventory_toml)))
        self.worker = harness.dispatcher()
        self.url = harness.slack.response_url("requester")
        #: Expiry jobs waiting for their time (kept off the queue until `expire`), and those delivered.
        self.timers: list[JobEnvelope] = []
        self.settled: list[JobEnvelope] = []

    def ack(self, body: bytes) -> dict[str, Any]:
        response = handle(self.handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
        assert response["statusCode"] == 200, response
        return response

    def command(self, line: str, user: str = "U0ALICE") -> dict[str, Any]:
        """The slash command's ack body."""
        command, _, text = line.partition(" ")
        body = slash_body(command, text, user_id=user, channel_id="C0OPS", team_id="T0001", response_url=self.url)
        return dict(json.loads(self.ack(body)["body"]))

    def click(self, action_id: str, value: str, user: str, *, channel: str = "C0APPROVALS", key: str = "") -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T0001"},
            "channel": {"id": channel},
            "trigger_id": f"1.2.{action_id}.{user}",
            "response_url": self.harness.slack.response_url(key or f"approval-{user}"),
            "actions": [{"action_id": action_id, "value": value}],
        }
        self.ack(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())

    def deliver(self) -> None:
        """Run every job the ack queued so far, as the worker would, then what the worker queued."""
        jobs, self.queue.jobs[:] = list(self.queue.jobs), []
        for job in jobs:
            self._handle(job.to_message())
        self.follow()

    def follow(self, *, max_steps: int = 50) -> None:
        """Deliver what the worker queued (each step after a poll interval of the worker's clock)."""
        for _ in range(max_steps):
            pending = self.harness.queued()
            if not pending:
                return
            for message in pending:
                self.harness.delete(message)
                self.harness.clock.advance(self.harness.poll_s)
                self._handle(message["Body"])
        raise AssertionError("the worker is still queueing jobs")

    def expire(self, seconds: float) -> None:
        """Move the worker's clock `seconds` on, then deliver the expiry jobs (and what follows)."""
        self.harness.clock.advance(seconds)
        timers, self.timers[:] = list(self.timers), []
        self.settled.extend(timers)
        for job in timers:
            self.worker.handle_record(job.to_message(), 1)
        self.follow()

    def _handle(self, body: str) -> None:
        job = JobEnvelope.from_message(body)
        if isinstance(job.args, SettleArgs) and job.args.outcome == "expired":
            self.timers.append(job)
            return
        self.worker.handle_record(body, 1)

    def texts(self, key: str) -> list[str]:
        return [m.text for m in self.harness.slack.messages(key=key)]


def button(blocks: list[dict[str, Any]], action_id: str) -> str:
    [actions] = [b for b in blocks if b["type"] == "actions"]
    return str(next(e["value"] for e in actions["elements"] if e["action_id"] == action_id))
