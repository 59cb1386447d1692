"""What Slack refuses in a message's blocks, for the local Slack to refuse it too.

Slack refuses a whole message whose blocks break a Block Kit limit (`invalid_blocks`): more than 50 blocks in a
message, a section's text past 3,000 characters, more than 10 fields or context elements, a header past 150,
a button's label past 75 or its value past 2,000, more than 25 elements in an actions block
(docs.slack.dev/reference/block-kit; platform-facts.md). slack_sdk's block validators check these per block.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

#: A message holds at most 50 blocks (a Home tab or a modal 100: checked where views are published).
MAX_MESSAGE_BLOCKS = 50


def blocks_refusal(payload: dict[str, Any]) -> str | None:
    """`invalid_blocks` when Slack would refuse the message's blocks, else None (no blocks is no refusal)."""
    blocks = payload.get("blocks")
    if blocks is None:
        return None
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks"
    if not isinstance(blocks, list) or len(blocks) > MAX_MESSAGE_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        try:
            parsed = Block.parse(block)
            if parsed is None:
                return "invalid_blocks"
            parsed.to_dict()  # validates the block and every element in it
        except (SlackObjectFormationError, KeyError, TypeError, ValueError):
            return "invalid_blocks"
    return None
