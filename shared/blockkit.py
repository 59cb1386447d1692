"""Slack's Block Kit rules in one place: the limits, escaping, and fitting any message within them.

Text from outside opsbot (what a person typed, log lines, AWS and Jenkins answers) goes through `escape`
(Slack's mrkdwn control characters `&`, `<`, `>`; docs.slack.dev "Formatting text for app surfaces"), and
inside code spans and blocks also loses its backticks; mentions and links appear only where opsbot puts
them. Every `SlackMessage` is bounded when it is built (`fit`): section text 3,000, fields 10 x 2,000,
context 10 elements, header 150, at most 50 blocks, message text 40,000 (Block Kit reference).
What each feature says lives beside the feature; this module knows no feature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

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
MAX_ACTIONS_ELEMENTS = 25
#: How much of what a person typed is echoed back.
MAX_ECHO = 80
#: The top-level `text` is a notification's preview and the fallback: kept short, the blocks carry the rest.
MAX_FALLBACK_TEXT = 4000

SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")
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
    if not SLACK_ID.match(slack_id):
        return escape(slack_id)
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def clip(markdown: str, limit: int) -> str:
    """The text within `limit` characters, cut with a visible count; never inside an entity or a `<...>`."""
    if len(markdown) <= limit:
        return markdown
    marker_room = 40
    if limit < marker_room:  # no room to say how much was cut: an ellipsis only
        cut = _cut_whole(markdown[: max(0, limit - 1)])
        if cut.count("```") % 2:
            cut = cut[: cut.rfind("```")]
        return cut + ("…" if limit > 0 else "")
    cut = _cut_whole(markdown[: limit - marker_room])
    if cut.count("```") % 2:
        cut += "\n```"
    return f"{cut}… ({len(markdown) - len(cut)} more characters)"


def _cut_whole(cut: str) -> str:
    """The cut text without a trailing piece of an entity (`&am`) or of a `<...>`."""
    for opening, closing in (("&", ";"), ("<", ">")):
        at = cut.rfind(opening)
        if at != -1 and closing not in cut[at:]:
            cut = cut[:at]
    return cut


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
    elif kind == "actions" and isinstance(block.get("elements"), list):
        elements = block["elements"][:MAX_ACTIONS_ELEMENTS]
        block = {**block, "elements": [_fit_button(e) for e in elements]}
    return block


def _fit_button(element: Any) -> Any:
    """A button's label within 75 characters (its value is opsbot's own token: `button` refuses a long one)."""
    if isinstance(element, dict) and element.get("type") == "button" and "text" in element:
        return {**element, "text": _clip_text_object(element.get("text"), MAX_BUTTON_TEXT)}
    return element


def fit(data: dict[str, Any]) -> dict[str, Any]:
    """A message's fields within Slack's limits: each block bounded, at most 50 blocks (the last one saying
    how many were left out), the text within 40,000 characters."""
    blocks = [_fit_block(b) for b in data.get("blocks") or [] if isinstance(b, dict)]
    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - (MAX_BLOCKS - 1)
        blocks = [*blocks[: MAX_BLOCKS - 1], context_block(f"… {left_out} more blocks not shown.")]
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


def section_block(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(markdown, MAX_SECTION_TEXT)}}


def context_block(*markdown: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": clip(m, MAX_SECTION_TEXT)} for m in markdown[:MAX_CONTEXT_ELEMENTS]]
    return {"type": "context", "elements": elements}


def section_blocks(lines: Sequence[str], *, max_sections: int = 10, what: str = "lines") -> list[dict[str, Any]]:
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
    blocks = [section_block("\n".join(s)) for s in sections]
    if shown < len(lines):
        blocks.append(context_block(f"… {len(lines) - shown} more {what} not shown."))
    return blocks


def fallback_text(*parts: str) -> str:
    return clip("\n".join(p for p in parts if p), MAX_FALLBACK_TEXT)


def simple(text: str, *context: str) -> SlackMessage:
    blocks = [section_block(text)]
    if context:
        blocks.append(context_block(*context))
    return SlackMessage(text=fallback_text(text), blocks=blocks)


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


def link_to(url: str | None, label: str) -> str:
    """A link opsbot makes (a console or Jenkins URL): the URL may not carry `|`, `<` or `>`."""
    if not url:
        return ""
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|{escape(shorten(label, 80)).replace('|', '/')}>"


def with_footer(message: SlackMessage, *context: str) -> SlackMessage:
    """The message with one more context line (step, elapsed time, who asked)."""
    return SlackMessage.model_validate({**message.model_dump(), "blocks": [*message.blocks, context_block(*context)]})


def with_lines(message: SlackMessage, lines: Sequence[str]) -> SlackMessage:
    """The message with sections of more lines (opsbot's mrkdwn), before its context."""
    if not lines:
        return message
    blocks = list(message.blocks)
    position = next((i for i, b in enumerate(blocks) if b.get("type") == "context"), len(blocks))
    blocks[position:position] = section_blocks(lines, max_sections=5)
    return SlackMessage.model_validate(
        {**message.model_dump(), "text": fallback_text(message.text, *lines), "blocks": blocks}
    )


def button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
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


#: A user, channel or user-group mention as opsbot writes it (`mention`, `channel`), once escaped.
_ESCAPED_MENTION = re.compile(r"&lt;(@[UW][A-Z0-9]{2,20}|#C[A-Z0-9]{2,20}|!subteam\^S[A-Z0-9]{2,20})&gt;")


def kept_mrkdwn(text: str, limit: int) -> str:
    """Text that may already be opsbot's mrkdwn (an outcome's first line: `frozen by <@U0...>`, `&lt;` for a
    typed `<`) or plain words (an API's error), made safe once: read as plain text, escaped, shortened, and only
    opsbot's own mentions given back their meaning (never a link, `<!channel>` or a second escape)."""
    plain = str(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _ESCAPED_MENTION.sub(r"<\1>", escape(shorten(plain, limit)))


def channel_mention(channel_id: str) -> str:
    return f"<#{channel_id}>" if SLACK_ID.match(channel_id) else escape(channel_id)


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
