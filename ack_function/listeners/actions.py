"""Block Kit actions: Confirm / Cancel on a confirmation prompt (signature verified by Bolt like any request)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from ack_function.intake import ActionClick, accept_click
from shared.queue import JobQueue


def confirmation_listener(queue: JobQueue, signing_secret: str) -> Any:
    def on_click(ack: Ack, body: dict[str, Any]) -> None:
        # An EnqueueError propagates: Bolt answers 500 and Slack shows the requester that the click failed.
        accept_click(ActionClick.from_body(body), queue, signing_secret=signing_secret)
        ack()

    return on_click
