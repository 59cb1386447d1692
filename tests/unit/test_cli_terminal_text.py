"""What the CLI prints for a person at a terminal: mrkdwn as Slack shows it, results that tell the truth."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ack_function import replies
from infra.cli.exit_codes import EXIT_CODE_TABLE, EXIT_REFUSED, EXIT_WAITING, RESULT_CODES
from infra.cli.main import EXIT_CODES_HELP, build_parser, main
from infra.devstack.blocks import render_blocks, unescape_mrkdwn
from infra.devstack.client import CommandOutcome
from infra.devstack.slack_api import MessageRecord, format_record
from infra.devstack.slack_request import PostResult
from shared import blockkit, messages
from shared.commands import find_command
from worker_function.control import settle as settle_module


def _record(message: blockkit.SlackMessage, *, final: bool = True, job: str = "7f3a2b1c" * 4) -> MessageRecord:
    payload = {
        **message.ack_body(),
        "metadata": {"event_type": "opsbot_job", "event_payload": {"job_id": job, "final": final}},
    }
    return MessageRecord(seq=1, kind="response_url", key="k", payload=payload, received_at=0.0)


def test_a_usage_help_shows_angle_brackets_not_html_entities():
    spec = find_command("/ops-scale")
    assert spec is not None
    usage = replies.usage_help(spec, "a count is needed")
    assert "&lt;" in usage.text  # what Slack receives, escaped

    shown = format_record(_record(usage))

    assert "/ops-scale <target> <count>" in shown and "&lt;" not in shown and "&gt;" not in shown


def test_unescaping_is_slacks_three_entities_ampersand_last():
    assert unescape_mrkdwn("a &lt;b&gt; &amp;lt; &amp;") == "a <b> &lt; &"
    assert render_blocks({"text": "x &amp; y"}) == "x & y"
    plain = {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "a &lt; b"}}]}
    assert render_blocks(plain).startswith("a &lt; b")  # plain_text is shown as it is


def _outcome(ack_text: str, *records: MessageRecord) -> CommandOutcome:
    ack = PostResult(status=200, body="", headers={}, latency_ms=1.0)
    return CommandOutcome(line="/ops-migrate payment", ack=ack, ack_text=ack_text, messages=list(records))


def test_a_request_sent_for_approval_is_waiting_not_refused():
    asked = messages.approval_requested("/ops-migrate payment", "C0APPROVALS", ["S0SRE"])

    assert _outcome(asked.text).result == "waiting"  # answered by the ack
    confirmed = _outcome(":warning: Run it?", _record(asked))  # answered by the worker after a Confirm
    confirmed.prompted = True
    assert confirmed.result == "waiting"
    assert RESULT_CODES["waiting"] == EXIT_WAITING != EXIT_REFUSED


def test_a_mention_that_must_be_confirmed_first_did_not_succeed():
    answer = replies.use_the_slash_command("/ops-migrate payment")

    outcome = _outcome("", _record(answer))

    assert outcome.result == "refused" and not outcome.ok


def test_the_exit_codes_are_one_table_and_help_shows_it_all():
    codes = [e.code for e in EXIT_CODE_TABLE]
    assert len(codes) == len(set(codes))
    help_text = " ".join(build_parser().format_help().split())
    for entry in EXIT_CODE_TABLE:
        assert f"{entry.code} {entry.meaning}" in " ".join(EXIT_CODES_HELP.split())
        assert " ".join(entry.meaning.split()) in help_text
    assert "waiting for someone else" in help_text


@pytest.mark.parametrize(
    ("value", "said"), [("abc", "must be a number of seconds, got 'abc'"), ("-3", "greater than 0")]
)
def test_a_bad_timeout_says_what_is_wrong(capsys, value, said):
    with pytest.raises(SystemExit):
        main(["send", "/ops-ping", "--timeout", value])

    err = capsys.readouterr().err
    assert said in err and "_positive" not in err


def test_a_bad_port_says_what_is_wrong(capsys):
    with pytest.raises(SystemExit):
        main(["local", "--port", "abc"])

    err = capsys.readouterr().err
    assert "not a TCP port" in err and "_port" not in err


def test_a_prompts_answer_names_the_prompts_job_in_its_metadata():
    """The settle job answers a Cancel; its message is about the prompt's job (the audit's), not its own."""
    from shared.jobs import ReplyTarget, Requester
    from worker_function.reply import _metadata

    settle = ReplyTarget(
        job_id="9e84b34e" * 4,
        command="/ops-migrate",
        text="payment",
        requester=Requester(user_id="U0DEV", team_id="T0", channel_id="C0"),
        issued_at=datetime.now(UTC),
    )
    answer = settle_module.cancelled("/ops-migrate payment").model_copy(update={"about_job": "dd453182" * 4})

    assert _metadata(settle, answer)["event_payload"]["job_id"] == "dd453182" * 4
    assert _metadata(settle, answer.plain_fallback("why"))["event_payload"]["job_id"] == "dd453182" * 4
    assert _metadata(settle, settle_module.cancelled("x"))["event_payload"]["job_id"] == "9e84b34e" * 4
