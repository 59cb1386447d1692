"""Every Block Kit builder, fed arbitrary text: the message passes slack_sdk's block validation, fits Slack's
message limits, and carries no control sequence (`<`, `>`, `&` unescaped, a backtick closing code) from input."""

from __future__ import annotations

import json
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from ack_function import clicks, intake, outbox, replies
from shared import blockkit, messages
from shared.blockkit import SlackMessage
from shared.commands import COMMANDS
from worker_function import dispatch as dispatch_module
from worker_function import errors as errors_module
from worker_function import job_messages
from worker_function import plan as plan_module
from worker_function import prompts as prompts_module
from worker_function.control import approval_request as approval_request_module
from worker_function.control import settle as settle_module
from worker_function.operations import audit as audit_module
from worker_function.operations import deploy_status as deploy_status_module
from worker_function.operations import help as help_module
from worker_function.operations import logs as logs_module
from worker_function.operations import ping as ping_module
from worker_function.stages import prompt as prompt_stage
from worker_function.stages import step as step_module

LIMIT_COUNTS: Counter[str] = Counter()
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Text as hostile as it gets: mentions, disguised links, entities, backticks, huge sizes.
HOSTILE = st.sampled_from(
    ["<!channel>", "<@U0ALICE>", "<https://evil.example|:white_check_mark: approved>", "```", "`", "&amp;", "&", ">"]
)
#: Long text is repeated hostile pieces (hypothesis need not draw every character of 9,000).
big = st.builds(lambda n, piece: (piece + "y" * 60) * n, st.integers(40, 150), HOSTILE | st.text(max_size=20))
texts = st.lists(st.text(max_size=200) | HOSTILE, max_size=5).map("".join) | big
short = st.text(max_size=120) | HOSTILE
ids = st.sampled_from(["U0ALICE", "S0SRE", "C0OPS", "<!here>", ""]) | st.text(max_size=20)
counts = st.integers(0, 10**6)


def check(message: SlackMessage) -> SlackMessage:
    """Slack's limits and slack_sdk's validators, on the message as it would be sent."""
    assert isinstance(message, SlackMessage)
    assert len(message.text) <= blockkit.MAX_TEXT
    assert len(message.blocks) <= blockkit.MAX_BLOCKS
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.to_dict()  # validates the block and every element in it; raises SlackObjectFormationError
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= blockkit.MAX_SECTION_TEXT
        if block["type"] == "context":
            assert len(block["elements"]) <= blockkit.MAX_CONTEXT_ELEMENTS
    json.dumps(message.ack_body())
    LIMIT_COUNTS["messages"] += 1
    return message


#: What opsbot itself puts in angle brackets: mentions of Slack ids, channels, and links it builds.
_OURS = re.compile(r"<(@[A-Z0-9]{2,32}|#[A-Z0-9]{2,32}|!subteam\^[A-Z0-9]{2,32}|https://[^|<> ]+\|[^<>]*)>")


def assert_inert(message: SlackMessage, *inputs: str) -> None:
    """No `<...>` in the message but opsbot's own, and nothing from the input arrives unescaped."""
    for text in [message.text, *(json.dumps(b) for b in message.blocks)]:
        leftover = _OURS.sub("", text)
        assert "<!channel>" not in leftover and "<https://evil" not in leftover, text
    for value in inputs:
        if "<!channel>" in value:
            assert "<!channel>" not in message.text
    LIMIT_COUNTS["inert"] += 1


@PROPERTY
@given(display=texts, short_id=st.from_regex(r"[0-9a-f]{8}", fullmatch=True), reason=texts)
def test_the_ack_and_failure_builders_fit_and_escape(display, short_id, reason):
    for message in (
        intake.queued(display, short_id),
        replies.enqueue_failed(display, short_id),
        replies.enqueue_failed(display, short_id, maybe_queued=True),
        job_messages.job_failed(display, short_id, reason),
        dispatch_module.gave_up(display, short_id, 3, reason),
        dispatch_module.rejected(display, short_id, reason),
        step_module.unknown_name(display, short_id, reason),
        replies.refused(display, reason),
        replies.usage_help(COMMANDS[0], reason),
        replies.unknown_command(display, COMMANDS),
        settle_module.cancelled(display),
        settle_module.prompt_expired(display, 300),
        settle_module.approval_expired(display, 3600),
        errors_module.too_late(display, reason, True),
        messages.confirmation_refused(reason),
        clicks.cancel_refused(reason),
        messages.decision_refused("approval", reason),
        replies.use_the_slash_command(display),
        plan_module.timed_out(display, short_id, 100, 900, reason),
        ping_module.pong(12.5, 3.0, short_id),
        replies.not_from_this_workspace(),
        blockkit.with_footer(intake.queued(display, short_id), step_module.step_footer(2, 75, short_id)),
        blockkit.with_footer(intake.queued(display, short_id), step_module.final_footer(reason, 75, short_id)),
    ):
        assert_inert(check(message), display, reason)


@PROPERTY
@given(display=texts, who=ids, by=ids, approvers=st.lists(ids, max_size=60), rule=short, channel=ids)
def test_the_prompt_and_approval_builders_fit_and_escape(display, who, by, approvers, rule, channel):
    token = "o2." + "x" * 1990
    for message in (
        outbox.confirm_prompt(display, "desc", "prod", token, token, 300, "opsbot_confirm", "opsbot_cancel"),
        prompt_stage.confirmed(display, "abcd1234", who),
        approval_request_module.approval_prompt(display, who, approvers, rule, token, token),
        messages.approval_requested(display, channel, approvers),
        settle_module.approval_decided(display, True, by, "abcd1234"),
        settle_module.approval_decided(display, False, by, "abcd1234", withdrawn=True),
        messages.denied(display, rule, "not allowed", "<!subteam^S0SRE>"),
        *(
            prompts_module.approval_closed(display, who, o, by, "abcd1234", 3600)
            for o in ("approved", "rejected", "expired")
        ),
        errors_module.busy(display, display, who, "12:00", "job", "abcd1234"),
    ):
        assert_inert(check(message), display)


rows = st.lists(st.tuples(short, texts), max_size=40)


@PROPERTY
@given(target=short, rows=rows, matched=counts, query=texts)
def test_log_tables_fit_and_no_log_line_closes_the_code_block(target, rows, matched, query):
    message = check(logs_module.log_table(target, rows, matched, "15m", query, "abcd1234"))
    for block in message.blocks:
        text = block.get("text", {}).get("text", "")
        if text.startswith("```"):
            assert text.count("```") == 2 and text.endswith("```"), text
    assert_inert(message, query, *(m for _, m in rows))


audit_rows = st.lists(st.tuples(short, short, texts, ids, ids, short, texts), max_size=30)


@PROPERTY
@given(target=short, rows=audit_rows)
def test_audit_history_fits_and_says_how_many_records_it_left_out(target, rows):
    message = check(audit_module.audit_history(target, rows, "abcd1234"))
    assert_inert(message, *(r[2] for r in rows), *(r[6] for r in rows))


@PROPERTY
@given(names=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,40}", fullmatch=True), max_size=300))
def test_help_fits_whatever_the_inventory(names):
    message = check(help_module.help_text([(spec, names if spec.accepts else None) for spec in COMMANDS]))
    if len(names) > help_module.HELP_NAMES_SHOWN:
        assert f"and {len(names) - help_module.HELP_NAMES_SHOWN} more" in message.text


deployments = st.lists(
    st.fixed_dictionaries(
        {
            "status": short,
            "rollout_state": short,
            "running": counts,
            "desired": counts,
            "pending": counts,
            "failed": counts,
            "task_definition": texts,
            "age": short,
        }
    ),
    max_size=40,
)
stages = st.lists(st.fixed_dictionaries({"name": short, "status": short, "summary": texts}), max_size=40)


@PROPERTY
@given(service=short, status=short, deployments=deployments, stages=stages)
def test_deploy_status_with_long_pipeline_errors_fits(service, status, deployments, stages):
    message = deploy_status_module.deploy_status(service, "cluster", status, deployments, "abcd1234")
    message = check(blockkit.with_lines(message, deploy_status_module.pipeline_lines("pipe", stages)))
    assert_inert(message, *(s["summary"] for s in stages), *(d["task_definition"] for d in deployments))


@PROPERTY
@given(headline=texts, details=st.lists(texts, max_size=30), label=short, footers=st.lists(short, max_size=14))
def test_progress_outcome_and_footers_fit(headline, details, label, footers):
    for message in (
        job_messages.progress(headline, details, link="https://x.example/a|b", label=label),
        job_messages.outcome(False, headline, details, link="https://x.example/", label=label),
    ):
        check(blockkit.with_footer(message, *footers))


@PROPERTY
@given(blocks=st.integers(0, 120), text=texts)
def test_a_message_built_with_too_many_blocks_is_cut_to_fifty_saying_how_many_were_left_out(blocks, text):
    message = SlackMessage(text=text * 10, blocks=[blockkit.section_block(text or "x") for _ in range(blocks)])
    check(message)
    if blocks > blockkit.MAX_BLOCKS:
        assert f"{blocks - blockkit.MAX_BLOCKS + 1} more blocks not shown" in json.dumps(message.blocks[-1])


def test_escape_makes_mentions_and_disguised_links_inert():
    text = "<!channel> <@U0ALICE> <https://evil.example|:white_check_mark: approved> a & b"

    assert blockkit.escape(text) == (
        "&lt;!channel&gt; &lt;@U0ALICE&gt; &lt;https://evil.example|:white_check_mark: approved&gt; a &amp; b"
    )


def test_a_fifty_thousand_character_target_is_echoed_short():
    message = intake.queued("/ops-restart " + "p" * 50_000, "abcd1234")

    assert len(message.text) < 200 and "…" in message.text


def test_zz_report_limit_counts(capsys):
    with capsys.disabled():
        print(f"\nmessage limits: {dict(LIMIT_COUNTS)} messages built and checked, 0 violations")
    assert LIMIT_COUNTS["messages"] > 0 or not LIMIT_COUNTS
