"""What a step may say: a Slack message, or explicitly nothing (instead of a message with empty text)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.blockkit import SlackMessage


class NothingToPost(BaseModel):
    """The step tells nobody anything: a waiting expiry, a prompt something else decided, an audit note, a
    refusal told to the clicker alone. `reason` is for the logs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nothing: Literal[True] = True
    reason: str = ""


#: What a step shows: kept by the `run` stage and read back (NothingToPost first: it forbids extra keys).
Said = NothingToPost | SlackMessage
