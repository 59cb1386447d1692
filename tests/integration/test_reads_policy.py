"""Reads under the policy, through the real worker on moto and the local Slack API: `/ops-audit <target>` is
decided in the target's environment, `/ops-jobs` and App Home list only what the viewer may read there, and a
detail kept in the audit (an STS error naming a role ARN and account ids) is shown only to whom the policy admits
to that record's command on that target."""

from __future__ import annotations

import json

from infra.devstack.demo import demo_inventory_toml
from shared.commands import HomeArgs
from tests.integration.test_cancel import ALICE, DANA, as_user, started_regression

BOB = "U0BOB"
ROLE_ERROR = (
    "cannot assume arn:aws:iam::210987654321:role/opsbot-target for payment-eu from account 123456789012: AccessDenied"
)

#: Reading prod (its audit, its jobs, its status) is for dana alone.
PROD_READS_FOR_DANA = """
[[policy.rules]]
name = "prod-reads"
commands = ["/ops-audit", "/ops-jobs", "/ops-status"]
environments = ["prod"]
users = ["U0DANA"]
ask = "#sre"
"""

#: Only dana may run /ops-status in prod: the others may read the audit trail, not its error texts.
PROD_STATUS_FOR_DANA = """
[[policy.rules]]
name = "prod-status"
commands = ["/ops-status"]
environments = ["prod"]
users = ["U0DANA"]
"""


def shown(harness, job) -> str:
    [message] = harness.slack.messages(key=job.job_id)
    return message.text + json.dumps(message.payload.get("blocks", []))


def run_as(harness, worker, line: str, user: str):
    job = as_user(harness.job(line), user)
    worker.handle_record(job.to_message(), 1)
    return job


def test_ops_audit_of_a_prod_target_is_decided_in_prod(harness):
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + PROD_READS_FOR_DANA
    worker = harness.dispatcher()
    lock = run_as(harness, worker, "/ops-lock payment-eu incident 42 with the bank", ALICE)
    assert "is locked" in shown(harness, lock)

    by_bob = run_as(harness, worker, "/ops-audit payment-eu", BOB)
    of_staging = run_as(harness, worker, "/ops-audit checkout", BOB)
    by_dana = run_as(harness, worker, "/ops-audit payment-eu", DANA)

    refused = shown(harness, by_bob)
    assert "prod-reads" in refused and "incident 42 with the bank" not in refused, refused
    assert "Recent history of `checkout`" in shown(harness, of_staging)
    assert "incident 42 with the bank" in shown(harness, by_dana)


def test_an_error_text_in_the_audit_is_shown_only_to_whom_the_policy_admits_to_its_command(harness):
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + PROD_STATUS_FOR_DANA
    worker = harness.dispatcher()
    failed_status = as_user(harness.job("/ops-status payment-eu"), DANA)
    worker.audit.record(failed_status, "outcome", ROLE_ERROR)

    by_bob = run_as(harness, worker, "/ops-audit payment-eu", BOB)
    by_dana = run_as(harness, worker, "/ops-audit payment-eu", DANA)

    to_bob = shown(harness, by_bob)
    assert "/ops-status payment-eu" in to_bob and "outcome" in to_bob  # the record is listed
    assert "210987654321" not in to_bob and "123456789012" not in to_bob and "role/opsbot-target" not in to_bob
    assert "shown only to whom the policy admits" in to_bob
    assert "arn:aws:iam::210987654321:role/opsbot-target" in shown(harness, by_dana)


def test_ops_jobs_and_app_home_show_only_what_the_viewer_may_read(harness):
    harness.inventory_toml = demo_inventory_toml(harness.cluster) + PROD_READS_FOR_DANA
    worker = harness.dispatcher()
    restart = as_user(harness.job("/ops-restart payment"), ALICE)  # prod: waits for its deployment
    worker.handle_record(restart.to_message(), 1)
    started_regression(harness, worker)  # smoke: no environment, everyone's to read
    run_as(harness, worker, "/ops-lock bastion secret prod maintenance", ALICE)
    run_as(harness, worker, "/ops-lock checkout staging work", ALICE)

    by_bob = run_as(harness, worker, "/ops-jobs", BOB)
    by_dana = run_as(harness, worker, "/ops-jobs", DANA)
    for viewer in (BOB, DANA):  # each opens the Home tab
        home = harness.job("/ops-help").changed(args=HomeArgs(), command="", text="", response_url=None)
        worker.handle_record(as_user(home, viewer).to_message(), 1)

    to_bob = shown(harness, by_bob)
    assert "/ops-regression smoke" in to_bob and "staging work" in to_bob
    assert "/ops-restart payment" not in to_bob and "secret prod maintenance" not in to_bob, to_bob
    assert "not shown: they are in environments the policy does not let you read" in to_bob
    to_dana = shown(harness, by_dana)
    assert "/ops-restart payment" in to_dana and "secret prod maintenance" in to_dana
    [bob_home] = harness.slack.home_views(BOB)
    [dana_home] = harness.slack.home_views(DANA)
    assert "secret prod maintenance" not in json.dumps(bob_home["blocks"]) and "staging work" in json.dumps(
        bob_home["blocks"]
    )
    assert "secret prod maintenance" in json.dumps(dana_home["blocks"])
