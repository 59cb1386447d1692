"""Events API listener: `app_mention` runs the same commands as the slash forms."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from ack_function.intake import accept_home_opened, accept_mention
from ack_function.payloads import HomeOpened, MentionEvent
from shared.inventory import Inventory
from shared.queue import JobQueue


def mention_listener(queue: JobQueue, inventory: Inventory | None = None) -> Any:
    def on_mention(ack: Ack, body: dict[str, Any]) -> None:
        # An EnqueueError propagates: Bolt answers 500 and Slack retries the event (same event_id, same job).
        event = {**body["event"], "team_id": body["team_id"], "event_id": body["event_id"]}
        accept_mention(MentionEvent.model_validate(event), queue, inventory=inventory)
        ack()

    return on_mention


def home_listener(queue: JobQueue) -> Any:
    def on_home_opened(ack: Ack, body: dict[str, Any]) -> None:
        # An EnqueueError propagates: Bolt answers 500 and Slack retries the event (same event_id, same job).
        event = {**body["event"], "team_id": body["team_id"], "event_id": body["event_id"]}
        accept_home_opened(HomeOpened.model_validate(event), queue)
        ack()

    return on_home_opened
