"""Sends through a response_url, counted before each is made: what tells a retry whether its message was shown.

Slack serves a response_url 5 times; a use is a message Slack took. A send whose answer was lost (a 5xx, a
timeout or a reset after sending) may or may not have taken a use. When a retry is told `used_url`, the uses
were taken by this message's earlier sends or by other messages': with an earlier send of this message counted
and fewer than 5 sends of other messages, at least one of this message's sends was taken, so it stands and a
channel post would be a second copy; otherwise nothing says which, so it is posted in the channel. Counted
before the send, every send is counted (a crash after the count over-counts: only ever a post in the channel).

One item per response_url in the leases table (`url-sends#<sha256 of the url>`, TTL `expires_at`): `sends`, and
`sends#<mark>` per message (`reply.mark_of`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

KEY_PREFIX = "url-sends#"
#: Longer than a response_url lives (30 minutes).
URL_SENDS_TTL_S = 86400


class ResponseUrlSends:
    """An atomic counter per response_url (UpdateItem ADD), per message and in all."""

    def __init__(
        self, table: str, *, client: Any, ttl_s: int = URL_SENDS_TTL_S, now: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self._client = client
        self._ttl = ttl_s
        self._now = now

    def count(self, url: str, mark: str) -> tuple[int, int]:
        """Count one more send of the message `mark` through `url`, before it is made; return how many sends of
        it (this one included) and of other messages through it were counted (those whose answers were lost too)."""
        key = KEY_PREFIX + hashlib.sha256(url.encode()).hexdigest()
        answer = self._client.update_item(
            TableName=self._table,
            Key={"target": {"S": key}},
            UpdateExpression="ADD #all :one, #mine :one SET expires_at = :expires",
            ExpressionAttributeNames={"#all": "sends", "#mine": f"sends#{mark}"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(int(self._now()) + self._ttl)}},
            ReturnValues="UPDATED_NEW",
        )
        attributes = answer["Attributes"]
        mine = int(attributes[f"sends#{mark}"]["N"])
        return mine, int(attributes["sends"]["N"]) - mine
