"""Block Kit builders for what runs and waits: /ops-jobs, /ops-cancel's answers and the App Home tab.

Pure functions from plain rows to messages (and a Home view) bounded for any number of jobs: a message at
most 50 blocks (`blockkit.fit`), a Home view at most 100 (`home_view`), every section within 3,000
characters, long lists cut with "... N more". Text from elsewhere (commands as typed, summaries from AWS or
Jenkins) is escaped. `extra_blocks` is where another section joins (the locks and freezes of the target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.blockkit import (
    SlackMessage,
    context_block,
    echo,
    escape,
    fallback_text,
    humanize_seconds,
    mention,
    section_block,
    section_blocks,
    shorten,
)

#: Slack's limit of blocks in a Home tab (docs.slack.dev/reference/block-kit: 100 in modals and Home tabs).
MAX_HOME_BLOCKS = 100
#: Sections of job lines per list in a message, and in the Home tab.
JOB_SECTIONS = 8
HOME_SECTIONS = 10


@dataclass(frozen=True)
class JobRow:
    """One job as the lists show it."""

    short_id: str
    display: str
    requester: str
    since: float
    state: str
    step: int = 0
    summary: str = ""
    lease: str | None = None
    waiting_for: str = ""


@dataclass(frozen=True)
class LeaseRow:
    """Who holds a target's lease: the job's requester, its command and since when."""

    target: str
    holder: str
    command: str
    since: float
    job_short_id: str


def _when(epoch: float, now: datetime) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    ago = humanize_seconds(max(0.0, (now - moment).total_seconds()))
    return f"since {moment:%H:%M} UTC ({ago} ago)"


def job_line(row: JobRow, now: datetime) -> str:
    """`7f3a2b1c` `/ops-regression smoke` by @alex since 14:02 UTC (5m ago): step 3, phase build; lease `smoke`."""
    waits = f", waits for its {row.waiting_for}" if row.waiting_for else ""
    where = f"step {row.step}" + (f", {escape(shorten(row.summary, 120))}" if row.summary else "")
    lease = f"; holds the lease on {echo(row.lease)}" if row.lease else ""
    return (
        f"`{escape(row.short_id)}` {echo(row.display)} by {mention(row.requester)} "
        f"{_when(row.since, now)}{waits}: {where}{lease}"
    )


def lease_line(row: LeaseRow, now: datetime) -> str:
    return (
        f"{echo(row.target)}: {echo(row.command)} by {mention(row.holder)} {_when(row.since, now)} "
        f"(job `{escape(row.job_short_id[:8])}`)"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def jobs_overview(
    running: Sequence[JobRow],
    waiting: Sequence[JobRow],
    leases: Sequence[LeaseRow],
    *,
    now: datetime,
    short_id: str,
    target: str | None = None,
    extra_blocks: Sequence[dict[str, Any]] = (),
) -> SlackMessage:
    """/ops-jobs: what runs, what waits (a prompt, an approval, its next step) and the leases held.
    `extra_blocks` go before the footer (the locks and freezes section)."""
    about = f" on {echo(target)}" if target else ""
    counts = f"{len(running)} running, {len(waiting)} waiting, {_count(len(leases), 'lease')} held"
    header = f"*What runs and waits{about}*: {counts}"
    blocks: list[dict[str, Any]] = [section_block(header)]
    sections = [
        ("Running", [job_line(r, now) for r in running], "jobs"),
        ("Waiting", [job_line(r, now) for r in waiting], "jobs"),
        ("Leases", [lease_line(r, now) for r in leases], "leases"),
    ]
    for title, lines, what in sections:
        blocks.append(section_block(f"*{title}*"))
        blocks += section_blocks(lines or ["_None._"], max_sections=JOB_SECTIONS, what=what)
    blocks += list(extra_blocks)[:10]
    blocks.append(context_block(f"`/ops-cancel <job>` stops one · job `{short_id}`"))
    return SlackMessage(text=fallback_text(header), blocks=blocks)


def unknown_job(job_id: str, known: Sequence[str]) -> SlackMessage:
    shown = ", ".join(f"`{escape(k)}`" for k in known[:10]) or "none"
    return _simple_message(
        f":no_entry: There is no job {echo(job_id)}: nothing was cancelled.",
        f"Jobs running or waiting now: {shown}. `/ops-jobs` lists them.",
    )


def ambiguous_job(job_id: str, matches: Sequence[str]) -> SlackMessage:
    shown = ", ".join(f"`{escape(m[:12])}`" for m in matches[:10])
    return _simple_message(
        f":grey_question: {echo(job_id)} could be any of {len(matches)} jobs ({shown}): give more of its id. "
        "Nothing was cancelled."
    )


def not_yours(display: str, short_id: str, requester: str) -> SlackMessage:
    return _simple_message(
        f":no_entry: You may not cancel job `{escape(short_id)}` ({echo(display)}): it is {mention(requester)}'s, "
        "and the policy names you neither in a rule for `/ops-cancel` nor among the command's approvers. "
        "Nothing was cancelled.",
        f"Ask {mention(requester)} to cancel it.",
    )


def already_ended(display: str, short_id: str, state: str, outcome: str, by: str = "") -> SlackMessage:
    if state == "cancelled":
        text = f":information_source: Job `{escape(short_id)}` ({echo(display)}) was already cancelled"
        text += f" by {mention(by)}." if by else "."
    else:
        text = f":information_source: Job `{escape(short_id)}` ({echo(display)}) already finished with: "
        text += escape(shorten(outcome or "its result", 300))
    return _simple_message(text, "Nothing was cancelled.")


def job_cancelled(
    display: str, short_id: str, requester: str, by: str, stopped: Sequence[str], *, for_requester: bool = False
) -> SlackMessage:
    """To the canceller (and, `for_requester`, to the requester): cancelled, and what was stopped where."""
    whose = "" if requester == by or for_requester else f" of {mention(requester)}"
    who = f" by {mention(by)}" if for_requester and requester != by else ""
    # The canceller's answer is a success (the cancel happened); the requester's says their job did not finish.
    icon = ":heavy_multiplication_x:" if for_requester else ":octagonal_sign:"
    text = f"{icon} Job `{escape(short_id)}` ({echo(display)}){whose} was cancelled{who}."
    lines = [f"• {escape(shorten(s, 300))}" for s in stopped]
    blocks = (
        [section_block(text), *section_blocks(lines, max_sections=2, what="lines")] if lines else [section_block(text)]
    )
    return SlackMessage(text=fallback_text(text, *lines), blocks=blocks, response_type="ephemeral")


def completed_before_cancel(
    display: str, short_id: str, how: str, *, requester: str = "", canceller: str = ""
) -> SlackMessage:
    """The cancel won the registry, but the target had already completed by itself: that is what is told (to
    the canceller; with `requester`, to the requester in the job's own message)."""
    if requester:
        whose = "" if canceller == requester else f" by {mention(canceller)}"
        text = (
            f":information_source: Job `{escape(short_id)}` ({echo(display)}) completed at its target before the "
            f"cancel{whose} reached it: {escape(shorten(how, 300))}. Nothing was cancelled; no later step runs."
        )
        return _simple_message(text)
    text = (
        f":information_source: Job `{escape(short_id)}` ({echo(display)}) had already completed at its target "
        f"when the cancel reached it: {escape(shorten(how, 300))}. Nothing was cancelled at its target; no later "
        "step runs."
    )
    return _simple_message(text)


def _simple_message(text: str, *context: str) -> SlackMessage:
    blocks = [section_block(text)]
    if context:
        blocks.append(context_block(*context))
    return SlackMessage(text=fallback_text(text, *context), blocks=blocks)


@dataclass(frozen=True)
class ApprovalRow:
    """An approval request waiting for the viewer: the job, who asked, since when."""

    short_id: str
    display: str
    requester: str
    since: float
    channel: str


def home_view(
    viewer: str,
    running: Sequence[JobRow],
    waiting: Sequence[JobRow],
    approvals: Sequence[ApprovalRow],
    *,
    now: datetime,
    extra_blocks: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The viewer's Home tab: their running jobs, their prompts and approvals waiting, the approvals waiting for
    them, then `extra_blocks` (the locks and freezes section); at most 100 blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "opsbot"}},
        context_block(f"What runs and waits for {mention(viewer)}, as of {now:%H:%M:%S} UTC (refreshed when opened)."),
    ]
    approval_lines = [
        f"`{escape(a.short_id)}` {echo(a.display)} by {mention(a.requester)} {_when(a.since, now)}, "
        f"in <#{escape(a.channel)}>"
        for a in approvals
    ]
    lists = [
        ("Your running jobs", [job_line(r, now) for r in running], "jobs"),
        ("Your prompts and approvals waiting", [job_line(r, now) for r in waiting], "jobs"),
        ("Approvals waiting for you", approval_lines, "approvals"),
    ]
    for title, lines, what in lists:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": title}})
        blocks += section_blocks(lines or ["_None._"], max_sections=HOME_SECTIONS, what=what)
    extra = list(extra_blocks)
    room = MAX_HOME_BLOCKS - len(blocks) - 1
    if len(extra) > room:
        extra = [*extra[: room - 1], context_block(f"… {len(extra) - (room - 1)} more blocks not shown.")]
    blocks += [*extra, context_block("`/ops-jobs` shows every job; `/ops-cancel <job>` stops one.")]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
