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


def enqueue_failed(display: str, short_id: str = "", *, maybe_queued: bool = False) -> SlackMessage:
    """`maybe_queued`: the queue took the request but did not confirm in time, so it may hold the job."""
    if maybe_queued:
        return _simple(
            f":warning: The job queue did not confirm `{display}` in time: it may or may not be queued. "
            f"If it was, job `{short_id}` answers here (it never runs twice); if nothing comes within a "
            "minute, try again.",
        )
    return _simple(
        f":x: Could not queue `{display}`; nothing was run. Try again in a moment.",
        "The job queue could not be reached.",
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


# -- long jobs: progress, outcomes, footers --------------------------------------------------

_OUTCOME_ICONS = {True: ":white_check_mark:", False: ":x:", None: ":warning:"}


def _link(url: str | None, label: str) -> str:
    return f"<{url}|{label}>" if url else ""


def progress(
    headline: str, details: Sequence[str] = (), *, link: str | None = None, label: str = "open"
) -> SlackMessage:
    """A step's progress: what is running now. Not final: later steps replace it."""
    text = f":hourglass_flowing_sand: {headline}"
    body = "\n".join(details)
    blocks = [_section(text + (f"\n{body}" if body else ""))]
    if link:
        blocks.append(_context(_link(link, label)))
    return SlackMessage(text=text, blocks=blocks, final=False)


def outcome(
    ok: bool | None,
    headline: str,
    details: Sequence[str] = (),
    *,
    link: str | None = None,
    label: str = "open",
    in_channel: bool = False,
) -> SlackMessage:
    """A job's result: succeeded (True), failed (False) or stopped/unknown (None)."""
    text = f"{_OUTCOME_ICONS[ok]} {headline}"
    body = "\n".join(details)
    blocks = [_section(text + (f"\n{body}" if body else ""))]
    if link:
        blocks.append(_context(_link(link, label)))
    return SlackMessage(text=text, blocks=blocks, response_type="in_channel" if in_channel else "ephemeral")


def with_footer(message: SlackMessage, *context: str) -> SlackMessage:
    """The message with one more context line (step, elapsed time, who asked)."""
    return message.model_copy(update={"blocks": [*message.blocks, _context(*context)]})


def step_footer(step: int, elapsed_s: float, short_id: str) -> str:
    return f"step {step + 1} · running for {humanize_seconds(elapsed_s)} · job `{short_id}`"


def final_footer(user_id: str, elapsed_s: float, short_id: str) -> str:
    return f"asked by <@{user_id}> · took {humanize_seconds(elapsed_s)} · job `{short_id}`"


def timed_out(display: str, short_id: str, elapsed_s: float, max_age_s: int, last: str = "") -> SlackMessage:
    details = [f"Last seen: {last}"] if last else []
    return outcome(
        None,
        f"`{display}` stopped after {humanize_seconds(elapsed_s)}: past its maximum of "
        f"{humanize_seconds(max_age_s)} (job `{short_id}`). opsbot no longer follows it; what it started may "
        "still be running.",
        details,
    )


def unknown_name(display: str, short_id: str, problem: str) -> SlackMessage:
    return _simple(f":question: `{display}` was not run (job `{short_id}`): {problem}")


def pipeline_lines(pipeline: str, stages: Sequence[dict[str, Any]]) -> list[str]:
    """One line per CodePipeline stage. Each dict: name, status, summary."""
    icons = {
        "Succeeded": ":white_check_mark:",
        "InProgress": ":arrows_counterclockwise:",
        "Failed": ":x:",
        "Stopped": ":black_square_for_stop:",
        "Cancelled": ":black_square_for_stop:",
    }
    lines = [f"*Pipeline `{pipeline}`*"]
    for stage in stages:
        icon = icons.get(stage["status"], ":white_circle:")
        summary = f": {stage['summary']}" if stage.get("summary") else ""
        lines.append(f"{icon} {stage['name']} {stage['status'].lower()}{summary}")
    return lines


def with_lines(message: SlackMessage, lines: Sequence[str]) -> SlackMessage:
    """The message with a section of more lines, before its context."""
    if not lines:
        return message
    body = "\n".join(lines)
    blocks = list(message.blocks)
    position = next((i for i, b in enumerate(blocks) if b.get("type") == "context"), len(blocks))
    blocks.insert(position, _section(body))
    return message.model_copy(update={"text": f"{message.text}\n{body}", "blocks": blocks})


def log_table(
    target: str, rows: Sequence[tuple[str, str]], matched: int, since: str, query: str, short_id: str
) -> SlackMessage:
    """Log lines as a compact table (time, message), newest first; what did not fit is counted."""
    header = f"*Logs of `{target}`* since {since}" + (f", matching `{query}`" if query else "")
    if rows:
        width = 160
        lines = [f"{when}  {msg if len(msg) <= width else msg[: width - 1] + '…'}" for when, msg in rows]
        table = "```\n" + "\n".join(lines) + "\n```"
    else:
        table = "_No log lines._"
    left_out = matched - len(rows)
    more = f"…and {left_out} more line{'s' if left_out != 1 else ''} not shown." if left_out > 0 else ""
    text = f"{header}\n{table}" + (f"\n{more}" if more else "")
    context = [m for m in (more, f"job `{short_id}`") if m]
    return SlackMessage(text=text, blocks=[_section(header), _section(table), _context(*context)])


def help_text(entries: Sequence[tuple[CommandSpec, list[str] | None]]) -> SlackMessage:
    """The commands, their usage and, for those that take an inventory name, the names they accept."""
    lines = []
    for spec, names in entries:
        accepted = ""
        if names is not None:
            accepted = " Accepts: " + (", ".join(f"`{n}`" for n in names) if names else "_none configured_") + "."
        lines.append(f"• `{spec.usage}`: {spec.description}{accepted}")
    text = "*What I can do*\n" + "\n".join(lines)
    return SlackMessage(text=text, blocks=[_section(text)])


def denied(display: str, rule: str | None, reason: str, ask: str) -> SlackMessage:
    """A policy denial: which rule refused, why, and who to ask (ephemeral: only the requester sees it)."""
    who = f"Ask {ask} for access." if ask else "Ask the owners of opsbot's policy for access."
    return _simple(
        f":no_entry: `{display}` was denied by rule `{rule or 'unknown'}`: {reason}. {who}", "Nothing was run."
    )


def confirm_prompt(
    display: str, description: str, environment: str | None, token: str, ttl_s: int, confirm_id: str, cancel_id: str
) -> SlackMessage:
    """The ephemeral prompt of a command that needs confirming: what will run, on what, Confirm / Cancel."""
    where = f" on *{environment}*" if environment else ""
    text = f":warning: Run `{display}`{where}? {description}"
    actions = {
        "type": "actions",
        "block_id": "opsbot_confirm",
        "elements": [
            {
                "type": "button",
                "action_id": confirm_id,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Confirm"},
                "value": token,
            },
            {
                "type": "button",
                "action_id": cancel_id,
                "text": {"type": "plain_text", "text": "Cancel"},
                "value": token,
            },
        ],
    }
    footer = _context(
        f"Only you can confirm; this prompt expires in {humanize_seconds(ttl_s)}. Nothing runs until then."
    )
    return SlackMessage(text=text, blocks=[_section(text), actions, footer])


def confirmed(display: str, short_id: str, user_id: str) -> SlackMessage:
    """Replaces the prompt; not the job's last message (its result follows)."""
    message = _simple(f":white_check_mark: `{display}` confirmed by <@{user_id}>: queued as job `{short_id}`.")
    return message.model_copy(update={"final": False})


def cancelled(display: str) -> SlackMessage:
    return _simple(f":heavy_multiplication_x: `{display}` was cancelled. Nothing was run.")


def prompt_expired(display: str, ttl_s: int) -> SlackMessage:
    """Replaces a confirmation prompt nobody answered."""
    return _simple(
        f":hourglass: The prompt to run `{display}` expired: nobody confirmed it within {humanize_seconds(ttl_s)}. "
        "Nothing was run.",
        f"Run `{display}` again if you still want it.",
    )


def approval_expired(display: str, ttl_s: int) -> SlackMessage:
    """Tells the requester that nobody approved (nor rejected) the request in time."""
    return _simple(
        f":hourglass: Your request to run `{display}` expired: nobody approved it within "
        f"{humanize_seconds(ttl_s)}. Nothing was run.",
        f"Run `{display}` again to ask anew.",
    )


_CLOSED = {
    "approved": ":white_check_mark: {who}'s `{display}` was approved by {by}: running as job `{short_id}`.",
    "rejected": ":x: {who}'s `{display}` was rejected by {by}. Nothing was run.",
    "withdrawn": ":leftwards_arrow_with_hook: {who} withdrew their `{display}`. Nothing was run.",
    "expired": ":hourglass: {who}'s `{display}` expired: nobody approved it within {ttl}. Nothing was run.",
}


def approval_closed(display: str, requester: str, outcome: str, by: str, short_id: str, ttl_s: int) -> SlackMessage:
    """The approvals channel's message once decided: what happened, and no buttons left to click. A rejection
    by the requester is their withdrawing it."""
    if outcome == "rejected" and by == requester:
        outcome = "withdrawn"
    text = _CLOSED[outcome].format(
        who=f"<@{requester}>", display=display, by=f"<@{by}>", short_id=short_id, ttl=humanize_seconds(ttl_s)
    )
    return SlackMessage(text=text, blocks=[_section(text)], response_type="in_channel")


_TOO_LATE = {
    "cancelled": "it had been cancelled",
    "expired": "the prompt had expired",
    "rejected": "the request had been rejected",
    "confirmed": "it had been confirmed already",
    "approved": "it had been approved already",
}


def too_late(display: str, outcome: str, approval: bool) -> SlackMessage:
    """A confirmation or approval that reached the worker after the prompt was decided otherwise."""
    what = "approval" if approval else "confirmation"
    why = _TOO_LATE.get(outcome, f"it was {outcome} already")
    if approval and outcome == "expired":
        why = "the approval request had expired"
    return _simple(
        f":no_entry: `{display}` was not run: {why} when the {what} arrived.",
        f"Run `{display}` again if you still want it.",
    )


def confirmation_refused(reason: str) -> SlackMessage:
    return _simple(f":no_entry: That confirmation was not accepted: {reason}. Nothing was run.")


def rejection_refused(reason: str) -> SlackMessage:
    """To whoever clicked Reject on an approval request they may not decide: the request stays open."""
    return decision_refused("rejection", reason)


def approval_refused(reason: str) -> SlackMessage:
    """To whoever clicked Approve on an approval request they may not decide: the request stays open."""
    return decision_refused("approval", reason)


def decision_refused(action: Literal["approval", "rejection"], reason: str) -> SlackMessage:
    """To whoever clicked Approve or Reject on an approval request they may not decide: nothing was decided."""
    return _simple(f":no_entry: That {action} was not accepted: {reason}. The request is still open.")


def audit_history(target: str, rows: Sequence[tuple[str, str, str, str, str, str, str]], short_id: str) -> SlackMessage:
    """A target's recent audit records, newest first. Each row: time, event, command, user, channel, job, detail."""
    header = f"*Recent history of `{target}`*"
    lines = [
        f"`{when}` *{event}* `{command}` by <@{user}>"
        + (f" in <#{channel}>" if channel else "")
        + f" (job `{job[:8]}`)"
        + (f": {detail}" if detail else "")
        for when, event, command, user, channel, job, detail in rows
    ]
    body = "\n".join(lines) if lines else "_Nothing recorded._"
    text = f"{header}\n{body}"
    return SlackMessage(text=text, blocks=[_section(header), _section(body), _context(f"job `{short_id}`")])


def approval_requested(display: str, channel: str, approvers: Sequence[str]) -> SlackMessage:
    who = ", ".join(_mention(a) for a in approvers)
    return _simple(
        f":hourglass_flowing_sand: `{display}` needs a second person: sent to <#{channel}> for approval by {who}.",
        "Nothing runs until someone other than you approves; the request expires in 1h.",
    )


def approval_prompt(display: str, requester: str, approvers: Sequence[str], rule: str, token: str) -> SlackMessage:
    """The approvals channel's message: who asks for what, Approve / Reject (the job rides sealed in the buttons)."""
    who = ", ".join(_mention(a) for a in approvers)
    text = (
        f":raised_hand: <@{requester}> asks to run `{display}` (rule `{rule}`). "
        f"Approver: {who}, not the requester (who may withdraw it with Reject)."
    )
    buttons = [
        {
            "type": "button",
            "action_id": "opsbot_approve",
            "style": "primary",
            "text": {"type": "plain_text", "text": "Approve"},
            "value": token,
        },
        {
            "type": "button",
            "action_id": "opsbot_reject",
            "style": "danger",
            "text": {"type": "plain_text", "text": "Reject"},
            "value": token,
        },
    ]
    return SlackMessage(
        text=text,
        blocks=[_section(text), {"type": "actions", "block_id": "opsbot_approval", "elements": buttons}],
        response_type="in_channel",
    )


def approval_decided(display: str, approved: bool, by: str, short_id: str, *, withdrawn: bool = False) -> SlackMessage:
    if approved:
        return _simple(f":white_check_mark: `{display}` approved by <@{by}>: running as job `{short_id}`.")
    if withdrawn:
        return _simple(f":leftwards_arrow_with_hook: You withdrew `{display}`. Nothing was run.")
    return _simple(f":x: `{display}` was rejected by <@{by}>. Nothing was run.")


def _mention(slack_id: str) -> str:
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def use_the_slash_command(display: str) -> SlackMessage:
    return _simple(
        f":point_right: `{display}` must be confirmed or approved first: type it as a slash command "
        f"(`{display}`) to get the prompt.",
        "Nothing was queued.",
    )
