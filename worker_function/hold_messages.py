"""Locks and freezes in words: refusals of the hold commands and the listing `/ops-jobs` and App Home show."""

from __future__ import annotations

from typing import Any

from shared.blockkit import (
    SlackMessage,
    context_block,
    echo,
    escape,
    humanize_seconds,
    mention,
    section_block,
    section_blocks,
    shorten,
    simple,
)
from shared.holds import Freeze, Holds, Lock, moment

#: The locks / freezes section lists at most this many of each, then how many more.
HOLDS_SHOWN = 20
#: How much of a lock's or a freeze's reason is shown.
MAX_REASON = 300


def hold_reason(reason: str) -> str:
    return escape(shorten(" ".join(reason.split()), MAX_REASON))


def hold_refused(display: str, why: str, short_id: str) -> SlackMessage:
    """A lock, unlock, freeze or unfreeze that may not be done; `why` is mrkdwn built here (`hold_why_*`)."""
    return simple(f":no_entry: {echo(display)} was refused: {why}", f"job `{escape(short_id)}`: nothing changed.")


def not_allowed_to(what: str, rule: str, allowed: str, ask: str) -> str:
    """Why, for `hold_refused`: the policy's `rule` names others (`allowed`: its mentions) for `what`."""
    who = f" Ask {ask}." if ask else ""
    return f"{escape(what)} is allowed to {allowed} (policy rule `{escape(rule)}`).{who}"


def held_by_someone_else(what: str, holder: str, since: int, rule_exists: bool) -> str:
    """Why, for `hold_refused`: only who made the lock or freeze (or whom the policy's rule admits) lifts it."""
    by_rule = "or whom the policy's rule admits " if rule_exists else ""
    return f"{escape(what)} was made by {mention(holder)} on {moment(since)}; only they {by_rule}may lift it."


def _hold_line(hold: Lock | Freeze, now: float) -> str:
    if isinstance(hold, Lock):
        return (
            f":lock: {echo(hold.target, 60)} locked by {mention(hold.by)} since {moment(hold.since)}: "
            f"{escape(shorten(' '.join(hold.reason.split()), 150))}"
        )
    left = humanize_seconds(max(0.0, hold.until - now))
    return (
        f":snowflake: {echo(hold.environment, 60)} frozen by {mention(hold.by)} until {moment(hold.until)} "
        f"({left} left): {escape(shorten(' '.join(hold.reason.split()), 150))}"
    )


def holds_blocks(holds: Holds, now: float) -> list[dict[str, Any]]:
    """A section listing the freezes and locks standing now, for `/ops-jobs` and App Home: at most
    `HOLDS_SHOWN` of each (then how many more), every reason escaped and shortened; at most 4 blocks."""
    freezes, locks = list(holds.freezes), list(holds.locks)
    if not freezes and not locks:
        return [section_block("*Freezes and locks*\n_No environment is frozen and no target is locked._")]
    lines = [_hold_line(f, now) for f in freezes[:HOLDS_SHOWN]] + [
        _hold_line(lock, now) for lock in locks[:HOLDS_SHOWN]
    ]
    blocks = [section_block("*Freezes and locks*"), *section_blocks(lines, max_sections=2, what="freezes and locks")]
    hidden = max(0, len(freezes) - HOLDS_SHOWN) + max(0, len(locks) - HOLDS_SHOWN)
    if hidden:
        blocks.append(context_block(f"… {hidden} more freezes and locks not shown."))
    return blocks[:4]
