"""Block Kit builders: pure functions from facts to Slack messages that fit Slack's limits for any input.

Text from outside opsbot (what a person typed, log lines, AWS and Jenkins answers) goes through `escape`
(Slack's mrkdwn control characters `&`, `<`, `>`; docs.slack.dev "Formatting text for app surfaces"), and
inside code spans and blocks also loses its backticks; mentions and links appear only where opsbot puts
them. Every `SlackMessage` is bounded when it is built (`fit`): section text 3,000, fields 10 x 2,000,
context 10 elements, header 150, at most 50 blocks, message text 40,000 (Block Kit reference).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from shared.commands import CommandSpec
from shared.holds import Freeze, Holds, Lock, moment

if TYPE_CHECKING:
    from shared.alarms import AlarmStateChange

#: Slack's limits (docs.slack.dev/reference/block-kit; platform-facts.md).
MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
#: How much of what a person typed is echoed back.
MAX_ECHO = 80
#: The top-level `text` is a notification's preview and the fallback: kept short, the blocks carry the rest.
MAX_FALLBACK_TEXT = 4000

_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")
#: What stands in for a backtick inside code: a backtick there would close the span or the block.
_TICK = "\u02cb"


def escape(text: object) -> str:
    """Outside text made inert in mrkdwn: `&`, `<` and `>` as Slack documents (no mention, no link)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: object, limit: int = MAX_ECHO) -> str:
    """The text cut to `limit` characters, with an ellipsis when cut."""
    text = str(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def echo(text: object, limit: int = MAX_ECHO) -> str:
    """What a person typed, as an inline code span: short, escaped, no backtick inside."""
    inner = escape(shorten(" ".join(str(text).split()), limit)).replace("`", _TICK)
    return f"`{inner or ' '}`"


def code_block(lines: Iterable[str]) -> str:
    """Lines from elsewhere (logs) as a code block they cannot close."""
    body = "\n".join(escape(line).replace("`", _TICK) for line in lines)
    return f"```\n{body}\n```"


def mention(slack_id: str) -> str:
    """A user (or, starting with S, a user group) mention; anything that is not a Slack id is shown inert."""
    if not _SLACK_ID.match(slack_id):
        return escape(slack_id)
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def clip(markdown: str, limit: int) -> str:
    """The text within `limit` characters, cut with a visible count; never inside an entity or a `<...>`."""
    if len(markdown) <= limit:
        return markdown
    marker_room = 40
    cut = markdown[: max(0, limit - marker_room)]
    for opening, closing in (("&", ";"), ("<", ">")):
        at = cut.rfind(opening)
        if at != -1 and closing not in cut[at:]:
            cut = cut[:at]
    if cut.count("```") % 2:
        cut += "\n```"
    return f"{cut}… ({len(markdown) - len(cut)} more characters)"


def _clip_text_object(obj: Any, limit: int) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return {**obj, "text": clip(obj["text"], limit)}
    return obj


def _fit_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "section":
        block = {**block}
        if "text" in block:
            block["text"] = _clip_text_object(block["text"], MAX_SECTION_TEXT)
        if isinstance(block.get("fields"), list):
            block["fields"] = [_clip_text_object(f, MAX_FIELD_TEXT) for f in block["fields"][:MAX_FIELDS]]
    elif kind == "context" and isinstance(block.get("elements"), list):
        elements = block["elements"][:MAX_CONTEXT_ELEMENTS]
        block = {**block, "elements": [_clip_text_object(e, MAX_SECTION_TEXT) for e in elements]}
    elif kind == "header" and "text" in block:
        block = {**block, "text": _clip_text_object(block["text"], MAX_HEADER_TEXT)}
    return block


def fit(data: dict[str, Any]) -> dict[str, Any]:
    """A message's fields within Slack's limits: each block bounded, at most 50 blocks (the last one saying
    how many were left out), the text within 40,000 characters."""
    blocks = [_fit_block(b) for b in data.get("blocks") or [] if isinstance(b, dict)]
    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - (MAX_BLOCKS - 1)
        blocks = [*blocks[: MAX_BLOCKS - 1], _context(f"… {left_out} more blocks not shown.")]
    text = data.get("text")
    fitted = {**data, "blocks": blocks}
    if isinstance(text, str):
        fitted["text"] = clip(text, MAX_TEXT)
    return fitted


class SlackMessage(BaseModel):
    """A message for response_url, chat.postMessage or an ack body; bounded to Slack's limits when built."""

    model_config = ConfigDict(frozen=True)

    text: str
    blocks: list[dict[str, Any]] = []
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    #: The job's last message (its result or its failure), as opposed to progress.
    final: bool = True
    #: The job this message is about when it is not the job sending it: a prompt's answer (cancelled,
    #: rejected, expired) names the prompt's job, the id the audit and `/ops-jobs` know it by.
    about_job: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _within_limits(cls, data: Any) -> Any:
        return fit(data) if isinstance(data, dict) else data

    def ack_body(self) -> dict[str, Any]:
        """What Bolt's ack() sends back on the HTTP response."""
        body: dict[str, Any] = {"response_type": self.response_type, "text": self.text}
        if self.blocks:
            body["blocks"] = self.blocks
        return body

    def plain_fallback(self, why: str) -> SlackMessage:
        """The message as plain text only, saying why (Slack refused the blocks): a last line of defence."""
        text = clip(f"{self.text}\n\n_{why}_", MAX_FALLBACK_TEXT)
        return SlackMessage(text=text, response_type=self.response_type, final=self.final, about_job=self.about_job)


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(markdown, MAX_SECTION_TEXT)}}


def _context(*markdown: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": clip(m, MAX_SECTION_TEXT)} for m in markdown[:MAX_CONTEXT_ELEMENTS]]
    return {"type": "context", "elements": elements}


def _sections(lines: Sequence[str], *, max_sections: int = 10, what: str = "lines") -> list[dict[str, Any]]:
    """Lines packed into sections of at most 3,000 characters; past `max_sections`, one line says how many
    more there were."""
    sections: list[list[str]] = []
    size = 0
    shown = 0
    for line in lines:
        line = clip(line, MAX_SECTION_TEXT - 100)
        if sections and size + len(line) + 1 <= MAX_SECTION_TEXT - 100:
            sections[-1].append(line)
            size += len(line) + 1
        elif len(sections) < max_sections:
            sections.append([line])
            size = len(line)
        else:
            break
        shown += 1
    blocks = [_section("\n".join(s)) for s in sections]
    if shown < len(lines):
        blocks.append(_context(f"… {len(lines) - shown} more {what} not shown."))
    return blocks


def _fallback_text(*parts: str) -> str:
    return clip("\n".join(p for p in parts if p), MAX_FALLBACK_TEXT)


def _simple(text: str, *context: str) -> SlackMessage:
    blocks = [_section(text)]
    if context:
        blocks.append(_context(*context))
    return SlackMessage(text=_fallback_text(text), blocks=blocks)


def queued(display: str, short_id: str) -> SlackMessage:
    return _simple(
        f":hourglass_flowing_sand: {echo(display)} is queued as job `{short_id}`.",
        "I'll post the result here.",
    )


def usage_help(spec: CommandSpec, problem: str) -> SlackMessage:
    """`problem` is plain words (it may quote the input, already shortened): shown escaped."""
    return _simple(
        f":warning: {escape(problem)}\nUsage: `{escape(spec.usage)}`\n{spec.summary}",
        "Nothing was queued.",
    )


def command_list(specs: Iterable[CommandSpec]) -> str:
    return "\n".join(f"• `{escape(spec.usage)}`: {spec.summary}" for spec in specs)


def unknown_command(name: str, specs: Sequence[CommandSpec]) -> SlackMessage:
    """An unknown command: the closest one offered ("did you mean"), then every command, closest first."""
    if not name:
        return _simple(f"Here is what I can do:\n{command_list(specs)}", "Nothing was queued.")
    import difflib  # only to explain an unknown command

    from shared.inventory import closest_first

    by_name = {spec.name: spec for spec in specs}
    typed = name.strip().lower()
    ordered = [by_name[n] for n in closest_first(typed, list(by_name))]
    close = difflib.get_close_matches(typed, list(by_name), n=1, cutoff=0.6)
    guess = f" Did you mean `{escape(close[0])}`?" if close else ""
    opening = f":question: I don't know {echo(name, 40)}.{guess} The commands, closest first:"
    return _simple(f"{opening}\n{command_list(ordered)}", "Nothing was queued.")


def refused(display: str, problem: str) -> SlackMessage:
    """A request the ack refuses before queueing (unknown name, a build parameter not allowed): plain words."""
    return _simple(f":no_entry: {echo(display)} was not queued: {escape(problem)}", "Nothing was queued.")


def not_from_this_workspace() -> SlackMessage:
    """To a person from another organisation (Slack Connect) who asked opsbot for something."""
    return _simple(":no_entry: opsbot accepts commands from members of this workspace only.", "Nothing was queued.")


def enqueue_failed(display: str, short_id: str = "", *, maybe_queued: bool = False) -> SlackMessage:
    """`maybe_queued`: the queue took the request but did not confirm in time, so it may hold the job."""
    if maybe_queued:
        return _simple(
            f":warning: The job queue did not confirm {echo(display)} in time: it may or may not be queued. "
            f"If it was, job `{short_id}` answers here (it never runs twice); if nothing comes within a "
            "minute, try again.",
        )
    return _simple(
        f":x: Could not queue {echo(display)}; nothing was run. Try again in a moment.",
        "The job queue could not be reached.",
    )


def pong(waited_ms: float, worked_s: float, short_id: str) -> SlackMessage:
    work = f" and worked {worked_s:g} s" if worked_s else ""
    return _simple(
        f":table_tennis_paddle_and_ball: pong: job `{short_id}` waited {waited_ms:.0f} ms in the queue{work}."
    )


def job_failed(display: str, short_id: str, reason: str) -> SlackMessage:
    """`reason` comes from an error (an API's words in it): shown escaped and bounded."""
    return _simple(f":x: {echo(display)} failed (job `{short_id}`): {escape(shorten(reason, 1500))}")


def deploy_status(
    service: str, cluster: str, service_status: str, deployments: Sequence[dict[str, Any]], short_id: str
) -> SlackMessage:
    """One line per ECS deployment, PRIMARY first. Each dict: status, rollout_state, running, desired,
    pending, failed, task_definition, age (ECS's words, escaped)."""
    icons = {"COMPLETED": ":white_check_mark:", "IN_PROGRESS": ":arrows_counterclockwise:", "FAILED": ":x:"}
    header = f"*Deploy status of {echo(service)}* (cluster {echo(cluster)}, service {escape(service_status)})"
    lines = []
    for d in deployments:
        icon = icons.get(d["rollout_state"], ":grey_question:")
        failed = f", {d['failed']} failed" if d["failed"] else ""
        lines.append(
            f"{icon} *{escape(d['status'])}* {escape(str(d['rollout_state']).lower().replace('_', ' '))}: "
            f"{d['running']}/{d['desired']} running, {d['pending']} pending{failed}; "
            f"{echo(d['task_definition'], 200)}, started {escape(d['age'])} ago"
        )
    body = _sections(lines or ["_No deployments._"], max_sections=5, what="deployments")
    return SlackMessage(
        text=_fallback_text(header, *lines), blocks=[_section(header), *body, _context(f"job `{short_id}`")]
    )


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
        f":no_entry: {echo(target)} is busy: {echo(command)} by {mention(holder_user)} since {escape(since)} "
        f"(job `{escape(holder_job[:8])}`).",
        f"Your job `{short_id}` was not run. Try again when it is done.",
    )


def gave_up(display: str, short_id: str, attempts: int, reason: str, done: Sequence[str] = ()) -> SlackMessage:
    """`done`: what the job made, or may have made, before it failed (its intents): said, so nobody assumes
    nothing happened."""
    made = ""
    if done:
        listed = "; ".join(escape(shorten(what, 200)) for what in list(done)[:5])
        made = f"\nBefore it failed it made, or may have made: {listed}. Look at the target before running it again."
    return _simple(
        f":x: {echo(display)} failed after {attempts} attempt{'s' if attempts != 1 else ''} (job `{short_id}`): "
        f"{escape(shorten(reason, 1500))}{made}",
        "The job is in the dead-letter queue; `opsbot dlq redrive` runs it again.",
    )


def rejected(display: str, short_id: str, reason: str) -> SlackMessage:
    return _simple(
        f":x: {echo(display)} could not be run (job `{short_id}`): {escape(shorten(reason, 1500))}",
        "The message is in the dead-letter queue for an operator to look at.",
    )


def restart_started(
    service: str, cluster: str, deployment_id: str, running: int, desired: int, short_id: str
) -> SlackMessage:
    text = (
        f":arrows_counterclockwise: Restart of {echo(service)} started (cluster {echo(cluster)}): "
        f"new deployment {echo(deployment_id)}, {running}/{desired} running."
    )
    return SlackMessage(text=text, blocks=[_section(text), _context(f"job `{short_id}`")], response_type="in_channel")


# -- long jobs: progress, outcomes, footers --------------------------------------------------

_OUTCOME_ICONS = {True: ":white_check_mark:", False: ":x:", None: ":warning:"}


def _link(url: str | None, label: str) -> str:
    """A link opsbot makes (a console or Jenkins URL): the URL may not carry `|`, `<` or `>`."""
    if not url:
        return ""
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|{escape(shorten(label, 80)).replace('|', '/')}>"


def _headline_blocks(text: str, details: Sequence[str]) -> list[dict[str, Any]]:
    if not details:
        return [_section(text)]
    joined = text + "\n" + "\n".join(details)
    if len(joined) <= MAX_SECTION_TEXT:
        return [_section(joined)]
    return [_section(text), *_sections(details, max_sections=8)]


def progress(
    headline: str, details: Sequence[str] = (), *, link: str | None = None, label: str = "open"
) -> SlackMessage:
    """A step's progress: what is running now. Not final: later steps replace it. `headline` and `details`
    are opsbot's mrkdwn: an operation escapes what it puts in them from elsewhere (`escape`, `echo`)."""
    text = f":hourglass_flowing_sand: {headline}"
    blocks = _headline_blocks(text, details)
    if link:
        blocks.append(_context(_link(link, label)))
    return SlackMessage(text=_fallback_text(text), blocks=blocks, final=False)


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
        blocks.append(_context(_link(link, label)))
    return SlackMessage(
        text=_fallback_text(text), blocks=blocks, response_type="in_channel" if in_channel else "ephemeral"
    )


def with_footer(message: SlackMessage, *context: str) -> SlackMessage:
    """The message with one more context line (step, elapsed time, who asked)."""
    return SlackMessage.model_validate({**message.model_dump(), "blocks": [*message.blocks, _context(*context)]})


def step_footer(step: int, elapsed_s: float, short_id: str) -> str:
    return f"step {step + 1} · running for {humanize_seconds(elapsed_s)} · job `{short_id}`"


def final_footer(user_id: str, elapsed_s: float, short_id: str) -> str:
    return f"asked by {mention(user_id)} · took {humanize_seconds(elapsed_s)} · job `{short_id}`"


def timed_out(display: str, short_id: str, elapsed_s: float, max_age_s: int, last: str = "") -> SlackMessage:
    details = [f"Last seen: {escape(shorten(last, 500))}"] if last else []
    return outcome(
        None,
        f"{echo(display)} stopped after {humanize_seconds(elapsed_s)}: past its maximum of "
        f"{humanize_seconds(max_age_s)} (job `{short_id}`). opsbot no longer follows it; what it started may "
        "still be running.",
        details,
    )


def unknown_name(display: str, short_id: str, problem: str) -> SlackMessage:
    return _simple(f":question: {echo(display)} was not run (job `{short_id}`): {escape(shorten(problem, 1500))}")


def pipeline_lines(pipeline: str, stages: Sequence[dict[str, Any]]) -> list[str]:
    """One line per CodePipeline stage. Each dict: name, status, summary (CodePipeline's words, escaped)."""
    icons = {
        "Succeeded": ":white_check_mark:",
        "InProgress": ":arrows_counterclockwise:",
        "Failed": ":x:",
        "Stopped": ":black_square_for_stop:",
        "Cancelled": ":black_square_for_stop:",
    }
    lines = [f"*Pipeline {echo(pipeline)}*"]
    for stage in stages:
        icon = icons.get(stage["status"], ":white_circle:")
        summary = f": {escape(shorten(stage['summary'], 300))}" if stage.get("summary") else ""
        lines.append(f"{icon} {escape(shorten(stage['name'], 100))} {escape(str(stage['status']).lower())}{summary}")
    return lines


def with_lines(message: SlackMessage, lines: Sequence[str]) -> SlackMessage:
    """The message with sections of more lines (opsbot's mrkdwn), before its context."""
    if not lines:
        return message
    blocks = list(message.blocks)
    position = next((i for i, b in enumerate(blocks) if b.get("type") == "context"), len(blocks))
    blocks[position:position] = _sections(lines, max_sections=5)
    return SlackMessage.model_validate(
        {**message.model_dump(), "text": _fallback_text(message.text, *lines), "blocks": blocks}
    )


#: /ops-logs shows at most this many code blocks of lines, then how many more.
LOG_SECTIONS = 8


def log_query_malformed(display: str, query: str, problem: str, short_id: str) -> SlackMessage:
    """CloudWatch Logs Insights could not read the query (MalformedQueryException): nothing was searched."""
    text = (
        f":no_entry: {echo(display)}: CloudWatch Logs Insights cannot read the query "
        f"{echo(query, 300)}: {escape(shorten(problem, 300))}. Nothing was searched."
    )
    hint = (
        "Words that do not start with a command (fields, filter, stats, sort, limit, parse...) are searched for "
        "as they are; a query is commands joined by `|`. "
        "<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html|Query syntax>"
    )
    return _simple(text, hint, f"job `{escape(short_id)}`")


def log_table(
    target: str, rows: Sequence[tuple[str, str]], matched: int, since: str, query: str, short_id: str
) -> SlackMessage:
    """Log lines as a compact table (time, message), newest first, in code blocks they cannot close; what did
    not fit is counted."""
    header = f"*Logs of {echo(target)}* since {escape(since)}" + (f", matching {echo(query)}" if query else "")
    width = 160
    lines = [shorten(f"{shorten(when, 30)}  {' '.join(msg.split())}", width) for when, msg in rows]
    tables: list[str] = []
    chunk: list[str] = []
    shown = 0
    for line in lines:
        if chunk and len(code_block([*chunk, line])) > MAX_SECTION_TEXT - 20:
            tables.append(code_block(chunk))
            chunk = []
            if len(tables) == LOG_SECTIONS:
                break
        chunk.append(line)
        shown += 1
    if chunk:
        tables.append(code_block(chunk))
    left_out = matched - shown
    more = f"…and {left_out} more line{'s' if left_out != 1 else ''} not shown." if left_out > 0 else ""
    body = [_section(t) for t in tables] or [_section("_No log lines._")]
    context = [m for m in (more, f"job `{short_id}`") if m]
    text = _fallback_text(header, *(tables or ["_No log lines._"]), more)
    return SlackMessage(text=text, blocks=[_section(header), *body, _context(*context)])


#: /ops-help lists at most this many names per command, then says how many more.
HELP_NAMES_SHOWN = 8


def help_text(entries: Sequence[tuple[CommandSpec, list[str] | None]]) -> SlackMessage:
    """The commands, their usage and, for those that take an inventory name, the names they accept (the first
    few, then how many more: `/ops-help` stays short whatever the inventory)."""
    lines = []
    for spec, names in entries:
        accepted = ""
        if names is not None:
            shown = ", ".join(echo(n, 40) for n in names[:HELP_NAMES_SHOWN])
            more = f" and {len(names) - HELP_NAMES_SHOWN} more" if len(names) > HELP_NAMES_SHOWN else ""
            accepted = " Accepts: " + (f"{shown}{more}" if names else "_none configured_") + "."
        lines.append(f"• `{escape(spec.usage)}`: {spec.summary}{accepted}")
    header = "*What I can do*"
    return SlackMessage(text=_fallback_text(header, *lines), blocks=[_section(header), *_sections(lines)])


def denied(display: str, rule: str | None, reason: str, ask: str) -> SlackMessage:
    """A policy denial: which rule refused, why, and who to ask (ephemeral: only the requester sees it). `ask`
    is the inventory's own mrkdwn (a mention of who to ask), written by the operators."""
    who = f"Ask {ask} for access." if ask else "Ask the owners of opsbot's policy for access."
    return _simple(
        f":no_entry: {echo(display)} was denied by rule {echo(rule or 'unknown')}: {reason}. {who}",
        "Nothing was run.",
    )


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError("a button's value is longer than Slack's 2000 characters")
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": shorten(label, MAX_BUTTON_TEXT)},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def confirm_prompt(
    display: str,
    description: str,
    environment: str | None,
    confirm_token: str,
    cancel_token: str,
    ttl_s: int,
    confirm_id: str,
    cancel_id: str,
) -> SlackMessage:
    """The ephemeral prompt of a command that needs confirming: what will run, on what, Confirm / Cancel (each
    button carries its own token, good for that purpose only)."""
    where = f" on *{escape(environment)}*" if environment else ""
    command, cut = whole_command(display)
    text = f":warning: Run {command}{where}? {description}"
    actions = {
        "type": "actions",
        "block_id": "opsbot_confirm",
        "elements": [
            _button(confirm_id, "Confirm", confirm_token, "danger"),
            _button(cancel_id, "Cancel", cancel_token),
        ],
    }
    footer = _context(
        f"Only you can confirm; this prompt expires in {humanize_seconds(ttl_s)}. Nothing runs until then.",
        *([cut] if cut else []),
    )
    return SlackMessage(text=_fallback_text(text), blocks=[_section(text), actions, footer])


#: A command shown for confirming is shown whole up to this long; a longer one keeps its start and its end.
MAX_CONFIRMED_COMMAND = 1200
_CONFIRMED_TAIL = 200


def whole_command(display: str) -> tuple[str, str]:
    """The command as a code span, whole (what is confirmed is what runs); past `MAX_CONFIRMED_COMMAND`
    characters its start and its end (where a revision or a count is) with the cut said, never silently."""
    flat = " ".join(display.split())
    if len(flat) <= MAX_CONFIRMED_COMMAND:
        return echo(flat, MAX_CONFIRMED_COMMAND), ""
    head = flat[: MAX_CONFIRMED_COMMAND - _CONFIRMED_TAIL - 1]
    tail = flat[-_CONFIRMED_TAIL:]
    left_out = len(flat) - len(head) - len(tail)
    shown = f"{echo(head, len(head))} … {echo(tail, len(tail))}"
    return shown, f"The command is {len(flat)} characters long: {left_out} in its middle are not shown here."


def confirmed(display: str, short_id: str, user_id: str) -> SlackMessage:
    """Replaces the prompt; not the job's last message (its result follows)."""
    message = _simple(
        f":white_check_mark: {echo(display)} confirmed by {mention(user_id)}: queued as job `{short_id}`."
    )
    return message.model_copy(update={"final": False})


def cancelled(display: str) -> SlackMessage:
    return _simple(f":heavy_multiplication_x: {echo(display)} was cancelled. Nothing was run.")


def prompt_expired(display: str, ttl_s: int) -> SlackMessage:
    """Replaces a confirmation prompt nobody answered."""
    return _simple(
        f":hourglass: The prompt to run {echo(display)} expired: nobody confirmed it within "
        f"{humanize_seconds(ttl_s)}. Nothing was run.",
        f"Run {echo(display)} again if you still want it.",
    )


def approval_expired(display: str, ttl_s: int) -> SlackMessage:
    """Tells the requester that nobody approved (nor rejected) the request in time."""
    return _simple(
        f":hourglass: Your request to run {echo(display)} expired: nobody approved it within "
        f"{humanize_seconds(ttl_s)}. Nothing was run.",
        f"Run {echo(display)} again to ask anew.",
    )


_CLOSED = {
    "approved": ":white_check_mark: {who}'s {display} was approved by {by}: running as job `{short_id}`.",
    "rejected": ":x: {who}'s {display} was rejected by {by}. Nothing was run.",
    "withdrawn": ":leftwards_arrow_with_hook: {who} withdrew their {display}. Nothing was run.",
    "expired": ":hourglass: {who}'s {display} expired: nobody approved it within {ttl}. Nothing was run.",
    # /ops-cancel of a request still waiting for its approval (worker_function/operations/cancel.py).
    "cancelled": ":heavy_multiplication_x: {who}'s {display} was cancelled by {by}. Nothing was run.",
}


def approval_closed(display: str, requester: str, outcome: str, by: str, short_id: str, ttl_s: int) -> SlackMessage:
    """The approvals channel's message once decided: what happened, and no buttons left to click. A rejection
    by the requester is their withdrawing it."""
    if outcome == "rejected" and by == requester:
        outcome = "withdrawn"
    text = _CLOSED[outcome].format(
        who=mention(requester), display=echo(display), by=mention(by), short_id=short_id, ttl=humanize_seconds(ttl_s)
    )
    return SlackMessage(text=text, blocks=[_section(text)], response_type="in_channel")


_TOO_LATE = {
    "cancelled": "it had been cancelled",
    "expired": "the prompt had expired",
    "rejected": "the request had been rejected",
    "confirmed": "it had been confirmed already",
    "approved": "it had been approved already",
    "refused": "it had been refused already (its target is locked or its environment frozen)",
}


def too_late(display: str, outcome: str, approval: bool) -> SlackMessage:
    """A confirmation or approval that reached the worker after the prompt was decided otherwise."""
    what = "approval" if approval else "confirmation"
    why = _TOO_LATE.get(outcome, f"it was {escape(shorten(outcome, 40))} already")
    if approval and outcome == "expired":
        why = "the approval request had expired"
    return _simple(
        f":no_entry: {echo(display)} was not run: {why} when the {what} arrived.",
        f"Run {echo(display)} again if you still want it.",
    )


def confirmation_refused(reason: str) -> SlackMessage:
    return _simple(f":no_entry: That confirmation was not accepted: {escape(reason)}. Nothing was run.")


def cancel_refused(reason: str) -> SlackMessage:
    """To whoever clicked Cancel on a prompt that is not theirs (or with a token that does not hold)."""
    return _simple(f":no_entry: That cancellation was not accepted: {escape(reason)}. The prompt is unchanged.")


def rejection_refused(reason: str) -> SlackMessage:
    """To whoever clicked Reject on an approval request they may not decide: the request stays open."""
    return decision_refused("rejection", reason)


def approval_refused(reason: str) -> SlackMessage:
    """To whoever clicked Approve on an approval request they may not decide: the request stays open."""
    return decision_refused("approval", reason)


def decision_refused(action: Literal["approval", "rejection"], reason: str) -> SlackMessage:
    """To whoever clicked Approve or Reject on an approval request they may not decide: nothing was decided."""
    return _simple(f":no_entry: That {action} was not accepted: {escape(reason)}. The request is still open.")


#: /ops-audit shows at most this many sections of records, then how many more.
AUDIT_SECTIONS = 6


#: A user, channel or user-group mention as opsbot writes it (`mention`, `_channel`), once escaped.
_ESCAPED_MENTION = re.compile(r"&lt;(@[UW][A-Z0-9]{2,20}|#C[A-Z0-9]{2,20}|!subteam\^S[A-Z0-9]{2,20})&gt;")


def kept_mrkdwn(text: str, limit: int) -> str:
    """Text that may already be opsbot's mrkdwn (an outcome's first line: `frozen by <@U0...>`, `&lt;` for a
    typed `<`) or plain words (an API's error), made safe once: read as plain text, escaped, shortened, and only
    opsbot's own mentions given back their meaning (never a link, `<!channel>` or a second escape)."""
    plain = str(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _ESCAPED_MENTION.sub(r"<\1>", escape(shorten(plain, limit)))


def audit_history(target: str, rows: Sequence[tuple[str, str, str, str, str, str, str]], short_id: str) -> SlackMessage:
    """A target's recent audit records, newest first. Each row: time, event, command, user, channel, job, detail
    (the command as typed and the detail are escaped and shortened)."""
    header = f"*Recent history of {echo(target)}*"
    lines = [
        f"`{escape(when)}` *{escape(event)}* {echo(command)} by {mention(user)}"
        + (f" in <#{channel}>" if _SLACK_ID.match(channel) else (f" in {escape(channel)}" if channel else ""))
        + f" (job `{escape(job[:8])}`)"
        + (f": {kept_mrkdwn(detail, 200)}" if detail else "")
        for when, event, command, user, channel, job, detail in rows
    ]
    body = _sections(lines or ["_Nothing recorded._"], max_sections=AUDIT_SECTIONS, what="records")
    return SlackMessage(
        text=_fallback_text(header, *lines), blocks=[_section(header), *body, _context(f"job `{short_id}`")]
    )


#: The words of `approval_requested` a client reads to know the request waits for someone else (the CLI's exit 5).
WAITING_FOR_APPROVAL = "needs a second person"


def approval_requested(display: str, channel: str, approvers: Sequence[str]) -> SlackMessage:
    who = ", ".join(mention(a) for a in approvers[:10]) + (" and others" if len(approvers) > 10 else "")
    return _simple(
        f":hourglass_flowing_sand: {echo(display)} {WAITING_FOR_APPROVAL}: sent to {_channel(channel)} for approval "
        f"by {who}.",
        "Nothing runs until someone other than you approves; the request expires in 1h.",
    )


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if _SLACK_ID.match(channel_id) else escape(channel_id)


def approval_prompt(
    display: str, requester: str, approvers: Sequence[str], rule: str, approve_token: str, reject_token: str
) -> SlackMessage:
    """The approvals channel's message: who asks for what, Approve / Reject (each button carries its own
    sealed token; neither reveals the job nor its response_url)."""
    who = ", ".join(mention(a) for a in approvers[:10]) + (" and others" if len(approvers) > 10 else "")
    text = (
        f":raised_hand: {mention(requester)} asks to run {echo(display)} (rule {echo(rule)}). "
        f"Approver: {who}, not the requester (who may withdraw it with Reject)."
    )
    buttons = [
        _button("opsbot_approve", "Approve", approve_token, "primary"),
        _button("opsbot_reject", "Reject", reject_token, "danger"),
    ]
    return SlackMessage(
        text=text,
        blocks=[_section(text), {"type": "actions", "block_id": "opsbot_approval", "elements": buttons}],
        response_type="in_channel",
    )


def approval_decided(display: str, approved: bool, by: str, short_id: str, *, withdrawn: bool = False) -> SlackMessage:
    if approved:
        return _simple(f":white_check_mark: {echo(display)} approved by {mention(by)}: running as job `{short_id}`.")
    if withdrawn:
        return _simple(f":leftwards_arrow_with_hook: You withdrew {echo(display)}. Nothing was run.")
    return _simple(f":x: {echo(display)} was rejected by {mention(by)}. Nothing was run.")


def use_the_slash_command(display: str) -> SlackMessage:
    return _simple(
        f":point_right: {echo(display)} must be confirmed or approved first: type it as a slash command "
        "to get the prompt.",
        "Nothing was queued.",
    )


#: Slack's limits on a static select (docs.slack.dev/reference/block-kit/block-elements/select-menu-element).
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER = 150


def _option(label: str, value: str) -> dict[str, Any]:
    if len(value) > MAX_OPTION_VALUE:
        raise ValueError("an option's value is longer than Slack's 150 characters")
    return {"text": {"type": "plain_text", "text": shorten(label, MAX_OPTION_TEXT)}, "value": value}


def static_select(
    action_id: str,
    placeholder: str,
    groups: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    initial: str | None = None,
) -> dict[str, Any]:
    """A static select of (label, value) choices: option groups when there is more than one group (their
    labels 75 characters), at most 100 options in all (past that, the rest are left out: the caller says so)."""
    kept: list[tuple[str, list[dict[str, Any]]]] = []
    room = MAX_OPTIONS
    for label, choices in groups[:MAX_OPTIONS]:
        options = [_option(text, value) for text, value in choices[:room]]
        room -= len(options)
        if options:
            kept.append((label, options))
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": shorten(placeholder, MAX_PLACEHOLDER)},
    }
    if len(kept) > 1:
        element["option_groups"] = [
            {"label": {"type": "plain_text", "text": shorten(label, MAX_OPTION_TEXT)}, "options": options}
            for label, options in kept
        ]
    else:
        element["options"] = kept[0][1] if kept else []
    every = [o for _, options in kept for o in options]
    chosen = next((o for o in every if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def a_or_an(noun: str) -> str:
    """`a target`, `an environment`."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def picker(
    spec: CommandSpec, what: str, selects: Sequence[dict[str, Any]], shown: int, left_out: int, block_id: str
) -> SlackMessage:
    """The ephemeral answer to a command given without its target: selects of what this person may use
    (`shown` of them; `left_out` more did not fit, so they are told to type it)."""
    if not shown:
        return _simple(
            f":information_source: There is no {escape(what)} you may use with `{escape(spec.name)}`.\n"
            f"Usage: `{escape(spec.usage)}`",
            "Nothing was queued.",
        )
    text = f":point_down: Choose {escape(a_or_an(what))} for `{escape(spec.name)}`. {spec.description}"
    notes = ["Choosing runs it exactly as if you had typed it. Nothing was queued yet."]
    if len(selects) > 1:
        notes.insert(0, "Pick the other choices first, then the " + escape(what) + ".")
    if left_out:
        notes.append(
            f"{left_out} more {escape(what)}s do not fit in this list: type `{escape(spec.name)} <{escape(what)}>`."
        )
    actions = {"type": "actions", "block_id": block_id, "elements": list(selects)}
    return SlackMessage(text=_fallback_text(text), blocks=[_section(text), actions, _context(*notes)])


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
    blocks: list[dict[str, Any]] = [{**_section("\n".join(lines)), "block_id": marker}]
    if runbook:
        buttons = [
            {
                **_button(RUNBOOK_ACTION, line, RunbookRef(alarm=key, entry=i).value()),
                "action_id": f"{RUNBOOK_ACTION}_{i}",
            }
            for i, line in enumerate(runbook[:5])
        ]
        blocks.append({"type": "actions", "block_id": "opsbot_runbook", "elements": buttons})
    where = " · ".join(escape(part) for part in (alarm.account, alarm.region) if part)
    flaps = f" · {changes} state changes" if changes > 1 else ""
    blocks.append(_context(f"CloudWatch alarm{(' · ' + where) if where else ''}{flaps} · updated in place"))
    text = f"{alarm.name} is {alarm.state}"
    return SlackMessage(text=_fallback_text(escape(shorten(text, 300))), blocks=blocks, response_type="in_channel")


#: A dry run shows at most this many lines of the target's state (the operation's), then how many more.
DRY_RUN_STATE_LINES = 20


def dry_run(display: str, short_id: str, change: str, now: Sequence[str], checks: Sequence[str]) -> SlackMessage:
    """What a mutating command would do (`--dry-run`): the planned change, the target's state now and the checks
    it would meet (policy rule, confirmation, approval, lease, holds). `change`, `now` and `checks` are opsbot's
    mrkdwn (the worker escapes what comes from elsewhere); each part is bounded here."""
    headline = f":mag: Dry run of {echo(display)}: nothing was changed."
    would = f"*Would:* {clip(change, 1000)}"
    shown = [f"• {clip(line, 500)}" for line in now[:DRY_RUN_STATE_LINES]]
    if len(now) > DRY_RUN_STATE_LINES:
        shown.append(f"• … {len(now) - DRY_RUN_STATE_LINES} more lines not shown")
    state = ["*Now:*", *(shown or ["• _nothing read_"])]
    gates = ["*Checks:*", *(f"• {clip(line, 500)}" for line in checks[:20])]
    footer = f"dry run · job `{short_id}` · no lease taken, no prompt posted, nothing run"
    blocks = [_section(f"{headline}\n{would}"), *_sections([*state, *gates], max_sections=4), _context(footer)]
    return SlackMessage(text=_fallback_text(headline, would, *state, *gates), blocks=blocks)


# -- locks and freezes (shared/holds.py) -------------------------------------------------------------------

#: The locks / freezes section lists at most this many of each, then how many more.
HOLDS_SHOWN = 20
#: How much of a lock's or a freeze's reason is shown.
MAX_REASON = 300


def _reason(reason: str) -> str:
    return escape(shorten(" ".join(reason.split()), MAX_REASON))


def locked(display: str, lock: Lock, short_id: str) -> SlackMessage:
    """A mutating command refused on a locked target: who locked it, why and since when."""
    return _simple(
        f":no_entry: :lock: {echo(display)} was refused: {echo(lock.target)} is locked by {mention(lock.by)} since "
        f"{moment(lock.since)}: {_reason(lock.reason)}",
        f"Your job `{escape(short_id)}` was not run. {mention(lock.by)} lifts it with `/ops-unlock "
        f"{escape(lock.target)}`.",
    )


def frozen(display: str, freeze: Freeze, short_id: str) -> SlackMessage:
    """A mutating command refused in a frozen environment: the reason, who froze it and until when."""
    return _simple(
        f":no_entry: :snowflake: {echo(display)} was refused: {echo(freeze.environment)} is frozen by "
        f"{mention(freeze.by)} until {moment(freeze.until)}: {_reason(freeze.reason)}",
        f"Your job `{escape(short_id)}` was not run. Try again after the freeze ends.",
    )


def lock_taken(lock: Lock, short_id: str) -> SlackMessage:
    return _simple(
        f":lock: {echo(lock.target)} is locked by {mention(lock.by)}: {_reason(lock.reason)}. Mutating commands on "
        f"it are refused until `/ops-unlock {escape(lock.target)}` (at the latest {moment(lock.until)}).",
        f"job `{escape(short_id)}`",
    )


def unlocked(lock: Lock, by: str, short_id: str) -> SlackMessage:
    whose = "" if by == lock.by else f" (locked by {mention(lock.by)} since {moment(lock.since)})"
    return _simple(f":unlock: {echo(lock.target)} is unlocked by {mention(by)}{whose}.", f"job `{escape(short_id)}`")


def lock_lifted_meanwhile(target: str, lifted_by_job: str, short_id: str) -> SlackMessage:
    """A lock that was taken, then lifted before its job could answer (its retry does not put it back)."""
    return _simple(
        f":unlock: {echo(target)} was locked, and the lock was lifted since (by job `{escape(lifted_by_job[:8])}`): "
        "it stays unlocked. Lock it again if it should be.",
        f"job `{escape(short_id)}`",
    )


def freeze_ended_meanwhile(environment: str, ended_by_job: str, short_id: str) -> SlackMessage:
    """A freeze that was made, then ended before its job could answer (its retry does not put it back)."""
    return _simple(
        f":sunny: {echo(environment)} was frozen, and the freeze was ended since (by job "
        f"`{escape(ended_by_job[:8])}`): it stays unfrozen. Freeze it again if it should be.",
        f"job `{escape(short_id)}`",
    )


def not_locked(target: str, short_id: str) -> SlackMessage:
    return _simple(f":information_source: {echo(target)} is not locked: nothing to lift.", f"job `{escape(short_id)}`")


def froze(freeze: Freeze, short_id: str) -> SlackMessage:
    return _simple(
        f":snowflake: {echo(freeze.environment)} is frozen by {mention(freeze.by)} until {moment(freeze.until)}: "
        f"{_reason(freeze.reason)}. Every mutating command on it is refused until then or "
        f"`/ops-unfreeze {escape(freeze.environment)}`.",
        f"job `{escape(short_id)}`",
    )


def unfrozen(freeze: Freeze, by: str, short_id: str) -> SlackMessage:
    whose = "" if by == freeze.by else f" (frozen by {mention(freeze.by)} until {moment(freeze.until)})"
    return _simple(
        f":sunny: {echo(freeze.environment)} is no longer frozen: ended by {mention(by)}{whose}.",
        f"job `{escape(short_id)}`",
    )


def not_frozen(environment: str, short_id: str) -> SlackMessage:
    return _simple(
        f":information_source: {echo(environment)} is not frozen: nothing to end.", f"job `{escape(short_id)}`"
    )


def hold_refused(display: str, why: str, short_id: str) -> SlackMessage:
    """A lock, unlock, freeze or unfreeze that may not be done; `why` is mrkdwn built here (`hold_why_*`)."""
    return _simple(f":no_entry: {echo(display)} was refused: {why}", f"job `{escape(short_id)}`: nothing changed.")


def not_allowed_to(what: str, rule: str, allowed: str, ask: str) -> str:
    """Why, for `hold_refused`: the policy's `rule` names others (`allowed`: its mentions) for `what`."""
    who = f" Ask {ask}." if ask else ""
    return f"{escape(what)} is allowed to {allowed} (policy rule `{escape(rule)}`).{who}"


def held_by_someone_else(what: str, holder: str, since: int, rule_exists: bool) -> str:
    """Why, for `hold_refused`: only who made the lock or freeze (or whom the policy's rule admits) lifts it."""
    by_rule = "or whom the policy's rule admits " if rule_exists else ""
    return f"{escape(what)} was made by {mention(holder)} on {moment(since)}; only they {by_rule}may lift it."


def held_by_a_job(target: str, command: str, requester: str, since: str, job: str) -> str:
    """Why, for `hold_refused`: the target's lease is a running job's, not a lock."""
    return (
        f"{echo(target)} is held by a running job, not a lock: {echo(command)} by {mention(requester)} since "
        f"{escape(since)} (job `{escape(job[:8])}`). Unlocking does not stop it."
    )


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


def not_shown_by_policy(count: int) -> dict[str, Any]:
    """The context line under a listing the policy cut: how many entries, never which."""
    what = "entry is" if count == 1 else "entries are"
    return _context(f"{count} {what} not shown: they are in environments the policy does not let you read.")


def holds_blocks(holds: Holds, now: float) -> list[dict[str, Any]]:
    """A section listing the freezes and locks standing now, for `/ops-jobs` and App Home: at most
    `HOLDS_SHOWN` of each (then how many more), every reason escaped and shortened; at most 4 blocks."""
    freezes, locks = list(holds.freezes), list(holds.locks)
    if not freezes and not locks:
        return [_section("*Freezes and locks*\n_No environment is frozen and no target is locked._")]
    lines = [_hold_line(f, now) for f in freezes[:HOLDS_SHOWN]] + [
        _hold_line(lock, now) for lock in locks[:HOLDS_SHOWN]
    ]
    blocks = [_section("*Freezes and locks*"), *_sections(lines, max_sections=2, what="freezes and locks")]
    hidden = max(0, len(freezes) - HOLDS_SHOWN) + max(0, len(locks) - HOLDS_SHOWN)
    if hidden:
        blocks.append(_context(f"… {hidden} more freezes and locks not shown."))
    return blocks[:4]


def holds_message(holds: Holds, now: float) -> SlackMessage:
    """The freezes and locks standing now, as a message of its own."""
    blocks = holds_blocks(holds, now)
    every: list[Lock | Freeze] = [*holds.freezes, *holds.locks]
    lines = [_hold_line(hold, now) for hold in every]
    return SlackMessage(text=_fallback_text("Freezes and locks", *lines[:HOLDS_SHOWN]), blocks=blocks)
