from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.commands.builtin.deploy_status import DeployStatusArgs
from shared.commands.builtin.ping import PingArgs
from shared.errors import JobFormatError
from shared.jobs import JobEnvelope, Requester, job_id_for

slack_ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
triggers = st.text(alphabet="0123456789abcdef.", min_size=1, max_size=60)
args = st.one_of(
    st.builds(PingArgs, work_seconds=st.floats(min_value=0, max_value=60)),
    st.builds(DeployStatusArgs, target=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True)),
)
envelopes = st.builds(
    JobEnvelope,
    job_id=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    command=st.sampled_from(["/ops-ping", "/deploy-status"]),
    text=st.text(max_size=50),
    args=args,
    requester=st.builds(Requester, user_id=slack_ids, team_id=slack_ids, channel_id=slack_ids),
    response_url=st.one_of(st.none(), st.just("https://hooks.slack.com/commands/T1/2/3")),
    issued_at=st.datetimes(timezones=st.just(UTC)),
    correlation_id=st.uuids().map(str),
)


@given(envelopes)
def test_envelope_round_trips_through_the_queue_body(job):
    assert JobEnvelope.from_message(job.to_message()) == job


@given(slack_ids, triggers)
def test_job_id_is_deterministic(team, trigger):
    assert job_id_for(team, trigger) == job_id_for(team, trigger)
    assert len(job_id_for(team, trigger)) == 32


@given(slack_ids, triggers, slack_ids, triggers)
def test_distinct_requests_get_distinct_job_ids(team_a, trigger_a, team_b, trigger_b):
    if (team_a, trigger_a) != (team_b, trigger_b):
        assert job_id_for(team_a, trigger_a) != job_id_for(team_b, trigger_b)


def test_requests_without_a_key_get_fresh_ids():
    assert job_id_for("T1", None) != job_id_for("T1", None)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"schema_version": 2}',
        '{"schema_version": 1, "job_id": "0123456789abcdef", "args": {"kind": "rm_rf"}}',
    ],
)
def test_messages_that_are_not_v1_envelopes_raise_job_format_error(body):
    with pytest.raises(JobFormatError):
        JobEnvelope.from_message(body)


def test_kind_and_display_come_from_args_and_text():
    job = JobEnvelope(
        job_id="0123456789abcdef0123456789abcdef",
        command="/deploy-status",
        text="payment",
        args=DeployStatusArgs(service="payment"),
        requester=Requester(user_id="U1", team_id="T1", channel_id="C1"),
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
        correlation_id="c",
    )
    assert (job.kind, job.display, job.short_id) == ("deploy_status", "/deploy-status payment", "01234567")
