"""What the worker says about a job as it runs it: progress, its outcome, and how it failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.blockkit import (
    MAX_SECTION_TEXT,
    SlackMessage,
    context_block,
    echo,
    escape,
    fallback_text,
    link_to,
    section_block,
    section_blocks,
    shorten,
    simple,
)


def job_failed(display: str, short_id: str, reason: str) -> SlackMessage:
    """`reason` comes from an error (an API's words in it): shown escaped and bounded."""
    return simple(f":x: {echo(display)} failed (job `{short_id}`): {escape(shorten(reason, 1500))}")


_OUTCOME_ICONS = {True: ":white_check_mark:", False: ":x:", None: ":warning:"}


def _headline_blocks(text: str, details: Sequence[str]) -> list[dict[str, Any]]:
    if not details:
        return [section_block(text)]
    joined = text + "\n" + "\n".join(details)
    if len(joined) <= MAX_SECTION_TEXT:
        return [section_block(joined)]
    return [section_block(text), *section_blocks(details, max_sections=8)]


def progress(
    headline: str, details: Sequence[str] = (), *, link: str | None = None, label: str = "open"
) -> SlackMessage:
    """A step's progress: what is running now. Not final: later steps replace it. `headline` and `details`
    are opsbot's mrkdwn: an operation escapes what it puts in them from elsewhere (`escape`, `echo`)."""
    text = f":hourglass_flowing_sand: {headline}"
    blocks = _headline_blocks(text, details)
    if link:
        blocks.append(context_block(link_to(link, label)))
    return SlackMessage(text=fallback_text(text), blocks=blocks, final=False)


def outcome(
    ok: bool | None,
    headline: str,
    details: Sequence[str] = (),
    *,
    link: str | None = None,
    label: str = "open",
    in_channel: bool = False,
) -> SlackMessage:
    """A job's result: succeeded (True), failed (False) or stopped/unknown (None). `headline` and `details`
    as in `progress`."""
    text = f"{_OUTCOME_ICONS[ok]} {headline}"
    blocks = _headline_blocks(text, details)
    if link:
        blocks.append(context_block(link_to(link, label)))
    return SlackMessage(
        text=fallback_text(text), blocks=blocks, response_type="in_channel" if in_channel else "ephemeral"
    )
