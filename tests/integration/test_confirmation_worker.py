"""A confirmed job replaces its prompt with "queued" before it runs; a cancel notice replaces it with "cancelled"."""

from __future__ import annotations

from shared.commands import NoticeArgs


def test_a_confirmed_job_replaces_its_prompt_then_runs_and_answers(harness):
    job = harness.job("/ops-ping").model_copy(update={"replace_original": True, "confirmed_by": "U0ALICE"})

    harness.dispatcher().handle_record(job.to_message(), 1)
    harness.dispatcher().handle_record(job.to_message(), 2)  # a redelivery replaces nothing twice

    first, result = harness.slack.messages(key=job.job_id)
    assert first.payload["replace_original"] is True
    assert f"confirmed by <@U0ALICE>: queued as job `{job.short_id}`" in first.text
    assert result.payload["replace_original"] is False and "pong" in result.text


def test_a_cancel_notice_replaces_the_prompt(harness):
    job = harness.job("/ops-ping").model_copy(
        update={"args": NoticeArgs(text="`/ops-migrate payment` was cancelled."), "command": "notice", "text": ""}
    )
    job = job.model_copy(update={"replace_original": True})

    harness.dispatcher().handle_record(job.to_message(), 1)

    [message] = harness.slack.messages(key=job.job_id)
    assert message.payload["replace_original"] is True and "was cancelled" in message.text


def test_a_confirm_needing_command_without_a_claimed_confirmation_is_refused(harness):
    """Given a /ops-migrate job carrying `approved_by` but no confirmation (its Confirm token replayed on the
    Approve action) and a policy that asks for no approval, then the worker runs nothing and says why."""
    job = harness.job("/ops-migrate payment 2024.06.1", confirmed=False).changed(approved_by="U0MALLORY")

    harness.run(job)

    assert harness.codebuild.builds_of("payment-migrate") == []
    [message] = harness.slack.messages(job=job.job_id)
    assert "runs only once its prompt is confirmed" in message.text and "Nothing was run" in message.text
