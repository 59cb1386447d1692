"""Slash-command listener: validate, enqueue, ack. Runs inside Slack's 3 s, so nothing slow here."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from ack_function.intake import accept_command
from ack_function.payloads import SlashCommand
from shared.inventory import Inventory
from shared.queue import JobQueue


def command_listener(queue: JobQueue, signing_secret: str, inventory: Inventory | None = None) -> Any:
    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        reply = accept_command(
            SlashCommand.model_validate(body), queue, signing_secret=signing_secret, inventory=inventory
        )
        ack(**reply.ack_body())

    return on_command
