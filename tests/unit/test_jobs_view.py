"""The builders of /ops-jobs, /ops-cancel and App Home, fed any number of jobs and hostile text: every message
fits Slack's limits (slack_sdk's validators too), a Home view stays within 100 blocks, outside text is inert."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from tests.unit.test_message_limits import PROPERTY, assert_inert, check, short, texts
from worker_function import jobs_view
from worker_function.jobs_view import ApprovalRow, JobRow, LeaseRow

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

rows = st.builds(
    JobRow,
    short_id=st.from_regex(r"[0-9a-f]{8}", fullmatch=True),
    display=texts,
    requester=st.sampled_from(["U0ALICE", "<!channel>", ""]),
    since=st.floats(0, NOW.timestamp()),
    state=st.sampled_from(["running", "waiting"]),
    step=st.integers(0, 10**6),
    summary=short,
    lease=st.none() | short,
    waiting_for=st.sampled_from(["", "confirmation", "approval", "next step"]),
)
leases = st.builds(
    LeaseRow,
    target=short,
    holder=st.sampled_from(["U0BOB", "<@U0X>"]),
    command=texts,
    since=st.just(0.0),
    job_short_id=short,
)
approvals = st.builds(
    ApprovalRow, short_id=short, display=texts, requester=st.just("U0ALICE"), since=st.just(0.0), channel=short
)


@PROPERTY
@given(
    running=st.lists(rows, max_size=120),
    waiting=st.lists(rows, max_size=120),
    held=st.lists(leases, max_size=80),
    target=st.none() | short,
)
def test_the_jobs_overview_fits_for_any_number_of_jobs_and_leases(running, waiting, held, target):
    extra = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Locks and freezes*"}}] * 30
    message = check(
        jobs_view.jobs_overview(running, waiting, held, now=NOW, short_id="7f3a2b1c", target=target, extra_blocks=extra)
    )
    assert_inert(message, *(r.display for r in running), *(r.summary for r in waiting))
    assert f"{len(running)} running, {len(waiting)} waiting" in message.text


def test_a_long_list_says_how_many_more_jobs_there_are():
    many = [
        JobRow(f"{i:08x}", "/ops-restart payment", "U0ALICE", 0.0, "running", summary="x" * 100) for i in range(400)
    ]

    message = check(jobs_view.jobs_overview(many, [], [], now=NOW, short_id="7f3a2b1c"))

    shown = json.dumps(message.blocks)
    assert "more jobs not shown" in shown and "400 running" in message.text


@PROPERTY
@given(display=texts, job=short, outcome=texts, lines=st.lists(texts, max_size=20))
def test_the_cancel_answers_fit_and_escape(display, job, outcome, lines):
    for message in (
        jobs_view.unknown_job(job, [job] * 50),
        jobs_view.ambiguous_job(job, [job] * 50),
        jobs_view.not_yours(display, job, "U0ALICE"),
        jobs_view.already_ended(display, job, "finished", outcome),
        jobs_view.already_ended(display, job, "cancelled", outcome, "U0DANA"),
        jobs_view.job_cancelled(display, job, "U0ALICE", "U0DANA", lines),
        jobs_view.job_cancelled(display, job, "U0ALICE", "U0DANA", lines, for_requester=True),
        jobs_view.completed_before_cancel(display, job, outcome),
    ):
        assert_inert(check(message), display, outcome, *lines)


def test_the_canceller_reads_success_and_the_requester_reads_that_the_job_was_cancelled_by_whom():
    told = jobs_view.job_cancelled("/ops-migrate payment", "7f3a2b1c", "U0ALICE", "U0DANA", ["build stopped"])
    notice = jobs_view.job_cancelled(
        "/ops-migrate payment", "7f3a2b1c", "U0ALICE", "U0DANA", ["build stopped"], for_requester=True
    )

    assert told.text.startswith(":octagonal_sign: Job `7f3a2b1c` (`/ops-migrate payment`) of <@U0ALICE> was cancelled")
    assert notice.text.startswith(":heavy_multiplication_x: Job `7f3a2b1c` (`/ops-migrate payment`) was cancelled by")


@PROPERTY
@given(
    running=st.lists(rows, max_size=120),
    waiting=st.lists(rows, max_size=120),
    waiting_for_me=st.lists(approvals, max_size=120),
    extra=st.integers(0, 200),
)
def test_the_home_view_holds_at_most_100_valid_blocks_for_anything(running, waiting, waiting_for_me, extra):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"lock {i}"}} for i in range(extra)]

    view = jobs_view.home_view("U0ALICE", running, waiting, waiting_for_me, now=NOW, extra_blocks=blocks)

    assert view["type"] == "home" and len(view["blocks"]) <= jobs_view.MAX_HOME_BLOCKS
    for block in view["blocks"]:
        Block.parse(block).to_dict()
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    if extra:  # every extra block shown, or a line saying how many were not
        shown = json.dumps(view["blocks"])
        assert f'"lock {extra - 1}"' in shown or "more blocks not shown" in shown
