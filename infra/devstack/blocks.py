"""Block Kit as plain text, for a terminal: what a person would read in Slack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_RULE = "─" * 48


def unescape_mrkdwn(text: str) -> str:
    """mrkdwn as Slack shows it: its three escaped characters (`&lt;`, `&gt;`, `&amp;`) as `<`, `>`, `&`
    (api.slack.com/reference/surfaces/formatting#escaping); `&amp;` last, so `&amp;lt;` shows `&lt;`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any) -> str:
    """The text of a text object ({"type": "mrkdwn"|"plain_text", "text": ...}) or a string (a message's
    `text`, mrkdwn), as Slack shows it: mrkdwn unescaped, plain_text as it is."""
    if isinstance(obj, Mapping):
        text = str(obj.get("text", ""))
        return text if obj.get("type") == "plain_text" else unescape_mrkdwn(text)
    return "" if obj is None else unescape_mrkdwn(str(obj))


def _element(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind == "button":
        style = element.get("style")
        return f"[ {_text(element.get('text'))} ]" + (f" ({style})" if style else "")
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    placeholder = _text(element.get("placeholder")) or _text(element.get("text"))
    if kind and "select" in str(kind):
        return f"[ {placeholder or 'select'} ▾ ]"
    return f"[{kind}{': ' + placeholder if placeholder else ''}]"


def _rich_text(elements: Any) -> str:
    parts: list[str] = []
    for element in elements or []:
        if not isinstance(element, Mapping):
            continue
        if "elements" in element:
            parts.append(_rich_text(element["elements"]))
        elif element.get("type") == "link":
            parts.append(str(element.get("text") or element.get("url", "")))
        elif element.get("type") == "emoji":
            parts.append(f":{element.get('name', '')}:")
        elif element.get("type") in ("user", "channel"):
            parts.append(f"<@{element.get('user_id') or element.get('channel_id')}>")
        else:
            parts.append(str(element.get("text", "")))
    return "".join(parts)


def render_block(block: Mapping[str, Any]) -> str:
    """One block as text; unknown block types show as `[type block]`."""
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"))
        return f"{title}\n{'═' * min(len(title), 48)}"
    if kind == "divider":
        return _RULE
    if kind == "section":
        lines = [_text(block.get("text"))] if block.get("text") else []
        fields = [_text(f) for f in block.get("fields", [])]
        for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
            lines.append(f"{left:<30}  {right}".rstrip())
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping):
            lines.append(f"    {_element(accessory)}")
        return "\n".join(lines)
    if kind == "context":
        return "  " + "  ·  ".join(_element(e) for e in block.get("elements", []))
    if kind == "actions":
        return "  ".join(_element(e) for e in block.get("elements", []))
    if kind == "image":
        return f"[image: {block.get('alt_text', '')}]"
    if kind == "rich_text":
        return _rich_text(block.get("elements"))
    return f"[{kind} block]"


def render_blocks(payload: Mapping[str, Any]) -> str:
    """A message payload as text: its blocks when it has some, else its `text`."""
    blocks = payload.get("blocks")
    if isinstance(blocks, list) and blocks:
        return "\n".join(render_block(b) for b in blocks if isinstance(b, Mapping))
    return _text(payload.get("text", ""))
