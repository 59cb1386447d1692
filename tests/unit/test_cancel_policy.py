"""Who may cancel a job: its requester, a rule listing /ops-cancel for the job's environment, the approvers of
the rule its command needs approving by; nobody else."""

from __future__ import annotations

import pytest

from shared.inventory import Inventory
from tests.unit.test_operation_context import Recorder, context
from worker_function.operations.cancel import may_cancel
from worker_function.store.jobs import JobRecord

INVENTORY = """
version = 1

[targets.payment]
environment = "prod"
ecs = { cluster = "main", service = "payment" }
migration = { codebuild_project = "payment-migrate" }

[targets.checkout]
environment = "staging"
ecs = { cluster = "main", service = "checkout" }

[[policy.rules]]
name = "sre-cancel-prod"
commands = ["/ops-cancel"]
environments = ["prod"]
users = ["U0SRE"]

[[policy.rules]]
name = "migrate-prod-needs-a-second-person"
commands = ["/ops-migrate"]
environments = ["prod"]
approvers = ["U0LEAD"]
approval_channel = "C0APPROVALS"
"""


def record(command: str, subject: str) -> JobRecord:
    return JobRecord(
        job_id="7f3a2b1c" * 4,
        display=f"{command} {subject}",
        command=command,
        subject=subject,
        requester="U0ALICE",
        channel="C0OPS",
    )


@pytest.mark.parametrize(
    ("command", "subject", "canceller", "allowed"),
    [
        ("/ops-restart", "checkout", "U0ALICE", True),  # the requester, always
        ("/ops-restart", "payment", "U0SRE", True),  # the cancel rule, on prod
        ("/ops-restart", "checkout", "U0SRE", False),  # ... not on staging
        ("/ops-migrate", "payment", "U0LEAD", True),  # an approver of the migration
        ("/ops-restart", "payment", "U0LEAD", False),  # ... not of a restart
        ("/ops-migrate", "payment", "U0BOB", False),  # anyone else
    ],
)
def test_who_may_cancel(command, subject, canceller, allowed):
    ctx = context(Recorder(), inventory=Inventory.from_toml(INVENTORY))

    assert may_cancel(ctx, record(command, subject), canceller, "C0OPS") is allowed


@pytest.mark.parametrize(
    ("text", "says"),
    [("xyz", "a job id is the hex digits opsbot's messages show"), ("", "takes 1 argument, got 0")],
)
def test_a_cancel_without_a_job_id_is_answered_with_its_usage_and_nothing_is_queued(text, says):
    from datetime import UTC, datetime

    from ack_function.route import plan_job
    from shared.blockkit import SlackMessage
    from shared.jobs import Requester

    planned = plan_job(
        "/ops-cancel",
        text,
        Requester(user_id="U0ALICE", team_id="T0", channel_id="C0"),
        job_id="0" * 32,
        response_url=None,
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )

    assert isinstance(planned, SlackMessage) and says in planned.text and "/ops-cancel &lt;job id&gt;" in planned.text
