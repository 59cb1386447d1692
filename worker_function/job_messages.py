"""What the worker says about a job as it runs it: progress, its outcome, its footers, and how it failed."""

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
    humanize_seconds,
    link_to,
    mention,
    section_block,
    section_blocks,
    shorten,
    simple,
)


def job_failed(display: str, short_id: str, reason: str) -> SlackMessage:
    """`reason` comes from an error (an API's words in it): shown escaped and bounded."""
    return simple(f":x: {echo(display)} failed (job `{short_id}`): {escape(shorten(reason, 1500))}")


def gave_up(display: str, short_id: str, attempts: int, reason: str, done: Sequence[str] = ()) -> SlackMessage:
    """`done`: what the job made, or may have made, before it failed (its intents): said, so nobody assumes
    nothing happened."""
    made = ""
    if done:
        listed = "; ".join(escape(shorten(what, 200)) for what in list(done)[:5])
        made = f"\nBefore it failed it made, or may have made: {listed}. Look at the target before running it again."
    return simple(
        f":x: {echo(display)} failed after {attempts} attempt{'s' if attempts != 1 else ''} (job `{short_id}`): "
        f"{escape(shorten(reason, 1500))}{made}",
        "The job is in the dead-letter queue; `opsbot dlq redrive` runs it again.",
    )


def rejected(display: str, short_id: str, reason: str) -> SlackMessage:
    return simple(
        f":x: {echo(display)} could not be run (job `{short_id}`): {escape(shorten(reason, 1500))}",
        "The message is in the dead-letter queue for an operator to look at.",
    )


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


def step_footer(step: int, elapsed_s: float, short_id: str) -> str:
    return f"step {step + 1} · running for {humanize_seconds(elapsed_s)} · job `{short_id}`"


def final_footer(user_id: str, elapsed_s: float, short_id: str) -> str:
    return f"asked by {mention(user_id)} · took {humanize_seconds(elapsed_s)} · job `{short_id}`"


def unknown_name(display: str, short_id: str, problem: str) -> SlackMessage:
    return simple(f":question: {echo(display)} was not run (job `{short_id}`): {escape(shorten(problem, 1500))}")


def confirmed(display: str, short_id: str, user_id: str) -> SlackMessage:
    """Replaces the prompt; not the job's last message (its result follows)."""
    message = simple(f":white_check_mark: {echo(display)} confirmed by {mention(user_id)}: queued as job `{short_id}`.")
    return message.model_copy(update={"final": False})
