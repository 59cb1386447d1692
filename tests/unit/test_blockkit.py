"""The Block Kit kernel on its own, fed anything: every message it lets out fits Slack's limits and passes
slack_sdk's block validators, and what it escapes stays inert. The builders' tests
(tests/unit/test_message_limits.py) check each feature's wording on top of this."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from shared import blockkit
from shared.blockkit import SlackMessage

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE = st.sampled_from(
    ["<!channel>", "<@U0ALICE>", "<https://evil.example|approved>", "```", "`", "&amp;", "&", ">", "<", ";", "\n"]
)
#: Long text is repeated pieces (hypothesis need not draw every character of 50,000).
big = st.builds(lambda n, piece: (piece + "y" * 37) * n, st.integers(1, 1400), HOSTILE | st.text(max_size=12))
texts = st.lists(st.text(max_size=60) | HOSTILE, max_size=6).map("".join) | big
non_empty = texts.filter(bool)


def text_object(kind: str = "mrkdwn") -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda t: {"type": kind, "text": t}, non_empty)


any_text_object = text_object("mrkdwn") | text_object("plain_text")
sections = st.one_of(
    st.builds(lambda t: {"type": "section", "text": t}, any_text_object),
    st.builds(lambda f: {"type": "section", "fields": f}, st.lists(any_text_object, min_size=1, max_size=16)),
    st.builds(
        lambda t, f: {"type": "section", "text": t, "fields": f},
        any_text_object,
        st.lists(any_text_object, max_size=16),
    ),
)
contexts = st.builds(lambda e: {"type": "context", "elements": e}, st.lists(any_text_object, min_size=1, max_size=16))
headers = st.builds(lambda t: {"type": "header", "text": t}, text_object("plain_text"))
buttons = st.builds(
    lambda i, label, value: {
        "type": "button",
        "action_id": f"a{i}",
        "text": {"type": "plain_text", "text": label},
        "value": value,
    },
    st.integers(0, 10**6),
    non_empty,
    st.text(max_size=40),
)
actions = st.builds(lambda e: {"type": "actions", "elements": e}, st.lists(buttons, min_size=1, max_size=30))
blocks = st.lists(sections | contexts | headers | actions | st.just({"type": "divider"}), max_size=70)


def check(message: SlackMessage) -> None:
    """Slack's limits (platform-facts.md) and slack_sdk's validators, on the message as it would be sent."""
    assert len(message.text) <= blockkit.MAX_TEXT
    assert len(message.blocks) <= blockkit.MAX_BLOCKS
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.to_dict()  # validates the block and every element in it; raises SlackObjectFormationError
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= blockkit.MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= blockkit.MAX_FIELDS
            assert all(len(f["text"]) <= blockkit.MAX_FIELD_TEXT for f in block.get("fields", []))
        elif block["type"] == "context":
            assert len(block["elements"]) <= blockkit.MAX_CONTEXT_ELEMENTS
        elif block["type"] == "header":
            assert len(block["text"]["text"]) <= blockkit.MAX_HEADER_TEXT
        elif block["type"] == "actions":
            assert len(block["elements"]) <= blockkit.MAX_ACTIONS_ELEMENTS
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= blockkit.MAX_BUTTON_TEXT
                assert len(element["value"]) <= blockkit.MAX_BUTTON_VALUE
    json.dumps(message.ack_body())


@PROPERTY
@given(text=texts, blocks=blocks)
def test_any_message_is_fitted_to_slacks_limits_when_it_is_built(text, blocks):
    message = SlackMessage(text=text, blocks=blocks)

    check(message)
    check(message.plain_fallback("Slack refused the blocks"))
    check(SlackMessage.model_validate(message.model_dump()))  # fitting again changes nothing
    assert SlackMessage.model_validate(message.model_dump()) == message


@PROPERTY
@given(count=st.integers(0, 200))
def test_past_fifty_blocks_the_last_one_says_how_many_were_left_out(count):
    message = SlackMessage(text="t", blocks=[blockkit.section_block(f"b{i}") for i in range(count)])

    assert len(message.blocks) == min(count, blockkit.MAX_BLOCKS)
    if count > blockkit.MAX_BLOCKS:
        assert f"{count - blockkit.MAX_BLOCKS + 1} more blocks not shown" in json.dumps(message.blocks[-1])


#: An entity as escape writes them, and a `<...>` link or mention.
_ENTITY = re.compile(r"&(amp|lt|gt);")


@PROPERTY
@given(text=texts, limit=st.integers(0, 5000))
def test_clip_keeps_within_any_limit_and_never_cuts_an_entity_or_leaves_code_open(text, limit):
    escaped = blockkit.escape(text)
    clipped = blockkit.clip(escaped, limit)

    assert len(clipped) <= max(limit, 0)
    if len(escaped) <= limit:
        assert clipped == escaped
    else:
        body = clipped.rsplit("…", 1)[0]
        assert "&" not in _ENTITY.sub("", body)  # every & left starts a whole entity
        assert body.count("```") % 2 == 0


@PROPERTY
@given(text=texts)
def test_escaped_text_has_no_control_character_left(text):
    escaped = blockkit.escape(text)

    assert "<" not in escaped and ">" not in escaped
    assert "&" not in _ENTITY.sub("", escaped)
    assert blockkit.escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


@PROPERTY
@given(text=texts, limit=st.integers(1, 300))
def test_echo_is_one_inert_code_span_and_code_blocks_cannot_be_closed(text, limit):
    span = blockkit.echo(text, limit)
    inner = span[1:-1]

    assert span.startswith("`") and span.endswith("`") and "`" not in inner and "\n" not in inner
    assert "<" not in inner and ">" not in inner
    block = blockkit.code_block(text.splitlines() or [""])
    assert block.startswith("```\n") and block.endswith("\n```") and block.count("```") == 2


@PROPERTY
@given(slack_id=texts | st.from_regex(r"[UWS][A-Z0-9]{2,20}", fullmatch=True))
def test_only_a_slack_id_becomes_a_mention(slack_id):
    said = blockkit.mention(slack_id)

    if re.fullmatch(r"[A-Z0-9]{2,32}", slack_id):
        assert said in (f"<@{slack_id}>", f"<!subteam^{slack_id}>")
    else:
        assert "<" not in said and ">" not in said


@PROPERTY
@given(
    groups=st.lists(
        st.tuples(texts, st.lists(st.tuples(texts, st.text(min_size=1, max_size=150)), max_size=80)), max_size=8
    ),
    placeholder=texts,
)
def test_a_static_select_keeps_within_slacks_option_limits(groups, placeholder):
    element = blockkit.static_select("pick", placeholder, groups)
    message = SlackMessage(text="t", blocks=[{"type": "actions", "elements": [element]}])

    Block.parse(message.blocks[0]).to_dict()  # validates every option too
    options = element.get("options") or [o for g in element.get("option_groups", []) for o in g["options"]]
    assert len(options) <= blockkit.MAX_OPTIONS
    assert all(len(o["text"]["text"]) <= blockkit.MAX_OPTION_TEXT for o in options)
    assert len(element["placeholder"]["text"]) <= blockkit.MAX_PLACEHOLDER


def test_the_kernel_knows_no_feature_it_imports_only_the_standard_library_and_pydantic():
    tree = ast.parse(Path(blockkit.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    roots = {name.split(".")[0] for name in imported}

    assert roots <= set(sys.stdlib_module_names) | {"__future__", "pydantic"}, roots


def test_a_button_value_past_slacks_limit_is_refused_when_built_never_cut():
    assert blockkit.button("a", "Go", "v" * blockkit.MAX_BUTTON_VALUE)["value"] == "v" * blockkit.MAX_BUTTON_VALUE
    with pytest.raises(ValueError, match="2000"):
        blockkit.button("a", "Go", "v" * (blockkit.MAX_BUTTON_VALUE + 1))
