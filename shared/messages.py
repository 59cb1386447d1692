"""Block Kit builders: pure functions from facts to Slack messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.commands import CommandSpec


class SlackMessage(BaseModel):
    """A message for response_url, chat.postMessage or an ack body."""

    model_config = ConfigDict(frozen=True)

    text: str
    blocks: list[dict[str, Any]] = []
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    #: The job's last message (its result or its failure), as opposed to progress.
    final: bool = True

    def ack_body(self) -> dict[str, Any]:
        """What Bolt's ack() sends back on the HTTP response."""
        body: dict[str, Any] = {"response_type": self.response_type, "text": self.text}
        if self.blocks:
            body["blocks"] = self.blocks
        return body


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown}}


def _context(*markdown: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": m} for m in markdown]}


def _simple(text: str, *context: str) -> SlackMessage:
    blocks = [_section(text)]
    if context:
        blocks.append(_context(*context))
    return SlackMessage(text=text, blocks=blocks)


def queued(display: str, short_id: str) -> SlackMessage:
    return _simple(
        f":hourglass_flowing_sand: `{display}` is queued as job `{short_id}`.",
        "I'll post the result here.",
    )


def usage_help(spec: CommandSpec, problem: str) -> SlackMessage:
    return _simple(
        f":warning: {problem}\nUsage: `{spec.usage}`\n{spec.description}",
        "Nothing was queued.",
    )


def command_list(specs: Iterable[CommandSpec]) -> str:
    return "\n".join(f"• `{spec.usage}`: {spec.description}" for spec in specs)


def unknown_command(name: str, specs: Sequence[CommandSpec]) -> SlackMessage:
    opening = f":question: I don't know `{name}`. The commands are:" if name else "Here is what I can do:"
    return _simple(f"{opening}\n{command_list(specs)}", "Nothing was queued.")


def enqueue_failed(display: str) -> SlackMessage:
    return _simple(
        f":x: Could not queue `{display}`; nothing was run. Try again in a moment.",
        "The job queue did not answer in time.",
    )


def pong(waited_ms: float, worked_s: float, short_id: str) -> SlackMessage:
    work = f" and worked {worked_s:g} s" if worked_s else ""
    return _simple(
        f":table_tennis_paddle_and_ball: pong: job `{short_id}` waited {waited_ms:.0f} ms in the queue{work}."
    )


def job_failed(display: str, short_id: str, reason: str) -> SlackMessage:
    return _simple(f":x: `{display}` failed (job `{short_id}`): {reason}")


def deploy_status(
    service: str, cluster: str, service_status: str, deployments: Sequence[dict[str, Any]], short_id: str
) -> SlackMessage:
    """One line per ECS deployment, PRIMARY first. Each dict: status, rollout_state, running, desired,
    pending, failed, task_definition, age."""
    icons = {"COMPLETED": ":white_check_mark:", "IN_PROGRESS": ":arrows_counterclockwise:", "FAILED": ":x:"}
    header = f"*Deploy status of `{service}`* (cluster `{cluster}`, service {service_status})"
    lines = []
    for d in deployments:
        icon = icons.get(d["rollout_state"], ":grey_question:")
        failed = f", {d['failed']} failed" if d["failed"] else ""
        lines.append(
            f"{icon} *{d['status']}* {d['rollout_state'].lower().replace('_', ' ')}: "
            f"{d['running']}/{d['desired']} running, {d['pending']} pending{failed}; "
            f"`{d['task_definition']}`, started {d['age']} ago"
        )
    body = "\n".join(lines) if lines else "_No deployments._"
    text = f"{header}\n{body}"
    return SlackMessage(text=text, blocks=[_section(header), _section(body), _context(f"job `{short_id}`")])


def humanize_seconds(seconds: float) -> str:
    """120 -> '2m 0s'; the two largest units only."""
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def busy(target: str, command: str, holder_user: str, since: str, holder_job: str, short_id: str) -> SlackMessage:
    return _simple(
        f":no_entry: `{target}` is busy: `{command}` by <@{holder_user}> since {since} (job `{holder_job[:8]}`).",
        f"Your job `{short_id}` was not run. Try again when it is done.",
    )


def gave_up(display: str, short_id: str, attempts: int, reason: str) -> SlackMessage:
    return _simple(
        f":x: `{display}` failed after {attempts} attempt{'s' if attempts != 1 else ''} (job `{short_id}`): {reason}",
        "The job is in the dead-letter queue; `opsbot dlq redrive` runs it again.",
    )


def rejected(display: str, short_id: str, reason: str) -> SlackMessage:
    return _simple(
        f":x: `{display}` could not be run (job `{short_id}`): {reason}",
        "The message is in the dead-letter queue for an operator to look at.",
    )


def restart_started(
    service: str, cluster: str, deployment_id: str, running: int, desired: int, short_id: str
) -> SlackMessage:
    text = (
        f":arrows_counterclockwise: Restart of `{service}` started (cluster `{cluster}`): "
        f"new deployment `{deployment_id}`, {running}/{desired} running."
    )
    return SlackMessage(text=text, blocks=[_section(text), _context(f"job `{short_id}`")], response_type="in_channel")
