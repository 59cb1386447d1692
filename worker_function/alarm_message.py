"""A CloudWatch alarm's message in its channel (`worker_function.alarms` posts and updates it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.blockkit import (
    SlackMessage,
    button,
    context_block,
    echo,
    escape,
    fallback_text,
    humanize_seconds,
    section_block,
    shorten,
)

if TYPE_CHECKING:
    from shared.alarms import AlarmStateChange


_ALARM_ICONS = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}
_ALARM_WORDS = {"ALARM": "in ALARM", "OK": "OK", "INSUFFICIENT_DATA": "without data (INSUFFICIENT_DATA)"}


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment.utcoffset() is not None else moment.isoformat()


def alarm_posted(
    alarm: AlarmStateChange,
    *,
    key: str,
    target: str,
    runbook: Sequence[str],
    marker: str,
    alarm_since: datetime | None = None,
    changes: int = 1,
) -> SlackMessage:
    """A CloudWatch alarm in its channel: state, reason, since when, how long an ALARM lasted once it is OK,
    and one button per runbook command. Every word from AWS is escaped. `marker` is the first block's id: the
    worker finds its own message again by it (conversations.history). A button's value names only the
    inventory key and the entry (`RunbookRef`); the clicker and the channel come from the signed click."""
    from shared.alarms import RUNBOOK_ACTION, RunbookRef  # with an alarm only

    name = echo(alarm.name, 120)
    icon = _ALARM_ICONS.get(alarm.state, ":grey_question:")
    headline = f"{icon} {name} is *{_ALARM_WORDS.get(alarm.state, escape(alarm.state))}* (target {echo(target)})"
    if alarm.state == "ALARM":
        when = f"Since {_when(alarm.changed_at)}."
    elif alarm_since is not None and alarm.previous == "ALARM":
        lasted = humanize_seconds((alarm.changed_at - alarm_since).total_seconds())
        when = f"Back to {escape(alarm.state)} at {_when(alarm.changed_at)}: the alarm lasted *{lasted}*."
    else:
        when = f"Since {_when(alarm.changed_at)}."
    lines = [headline, when]
    if alarm.description:
        lines.append(f"_{escape(shorten(alarm.description, 500))}_")
    if alarm.reason:
        lines.append(f">{escape(shorten(' '.join(alarm.reason.split()), 1500))}")
    blocks: list[dict[str, Any]] = [{**section_block("\n".join(lines)), "block_id": marker}]
    if runbook:
        buttons = [
            {
                **button(RUNBOOK_ACTION, line, RunbookRef(alarm=key, entry=i).value()),
                "action_id": f"{RUNBOOK_ACTION}_{i}",
            }
            for i, line in enumerate(runbook[:5])
        ]
        blocks.append({"type": "actions", "block_id": "opsbot_runbook", "elements": buttons})
    where = " · ".join(escape(part) for part in (alarm.account, alarm.region) if part)
    flaps = f" · {changes} state changes" if changes > 1 else ""
    blocks.append(context_block(f"CloudWatch alarm{(' · ' + where) if where else ''}{flaps} · updated in place"))
    text = f"{alarm.name} is {alarm.state}"
    return SlackMessage(text=fallback_text(escape(shorten(text, 300))), blocks=blocks, response_type="in_channel")
