"""Block Kit actions: Confirm / Cancel, Approve / Reject, runbook buttons (each request verified by Bolt)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from ack_function.clicks import accept_approval_click, accept_click
from ack_function.intake import accept_pick, accept_runbook_click
from ack_function.payloads import ActionClick
from ack_function.pickers import PickClick
from ack_function.step_clicks import accept_step_click
from shared.inventory import Inventory
from shared.queue import JobQueue


def confirmation_listener(queue: JobQueue, signing_secret: str) -> Any:
    def on_click(ack: Ack, body: dict[str, Any]) -> None:
        # An EnqueueError propagates: Bolt answers 500 and Slack shows the requester that the click failed.
        accept_click(ActionClick.from_body(body), queue, signing_secret=signing_secret)
        ack()

    return on_click


def approval_listener(queue: JobQueue, signing_secret: str, inventory: Inventory | None) -> Any:
    def on_click(ack: Ack, body: dict[str, Any]) -> None:
        accept_approval_click(ActionClick.from_body(body), queue, signing_secret=signing_secret, inventory=inventory)
        ack()

    return on_click


def pick_listener(queue: JobQueue, signing_secret: str, inventory: Inventory | None) -> Any:
    def on_pick(ack: Ack, body: dict[str, Any]) -> None:
        # An EnqueueError propagates: Bolt answers 500 and Slack shows the person that the choice failed.
        accept_pick(PickClick.from_body(body), queue, signing_secret=signing_secret, inventory=inventory)
        ack()

    return on_pick


def acknowledge(ack: Ack) -> None:
    """A choice that is read later, from the state of the click that follows (the `--since` of a picker)."""
    ack()


def runbook_listener(queue: JobQueue, signing_secret: str, inventory: Inventory | None) -> Any:
    def on_click(ack: Ack, body: dict[str, Any]) -> None:
        accept_runbook_click(ActionClick.from_body(body), queue, signing_secret=signing_secret, inventory=inventory)
        ack()

    return on_click


def step_listener(queue: JobQueue) -> Any:
    """Approve / Reject on a runbook's waiting state (`ack_function.step_clicks`)."""

    def on_click(ack: Ack, body: dict[str, Any]) -> None:
        click = ActionClick.from_body(body)
        accept_step_click(
            action_id=click.action_id,
            value=click.value,
            user_id=click.user_id,
            team_id=click.team_id,
            channel_id=click.channel_id,
            queue=queue,
        )
        ack()

    return on_click
