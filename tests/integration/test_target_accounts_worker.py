"""The worker as Lambda builds it, on moto server: a target in a second account is acted on there under a
session named for the job; STS refusing is one clear message and no retry, STS throttling is retried; a dry
run reads the target and changes nothing (moto's request recorder, the local CodeBuild), takes no lease and
is audited as a dry run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ack_function.route import plan_job
from infra.devstack.demo import (
    MIGRATION_PROJECT,
    OTHER_CLUSTER,
    OTHER_ROLE,
    demo_inventory_toml,
    other_account_client,
    provision_other_account,
)
from opsbot_testkit.faults import moto_count, moto_recorder, moto_requests
from shared.jobs import JobEnvelope, Requester, job_id_for
from tests.integration.test_accounts import FaultySts
from worker_function.store.intents import Intent

pytestmark = pytest.mark.integration


@pytest.fixture
def eu(harness) -> Any:
    """Target `payment-eu`'s ECS, in account 222222222222 (eu-west-1)."""
    provision_other_account(harness.moto.endpoint_url)
    return other_account_client("ecs", harness.moto.endpoint_url)


@pytest.fixture
def recorded(harness) -> Iterator[list[dict[str, Any]]]:
    """moto's request recorder, on for the test: the list fills with what moto received when read."""
    endpoint = harness.moto.endpoint_url
    harness.worker_role()  # provisioned (an AssumeRole of its own) before moto records the test's calls
    moto_recorder(endpoint, "reset-recording")
    moto_recorder(endpoint, "start-recording")
    entries: list[dict[str, Any]] = []
    yield entries
    moto_recorder(endpoint, "stop-recording")


def read(recorded: list[dict[str, Any]], harness) -> list[dict[str, Any]]:
    recorded[:] = moto_requests(harness.moto.endpoint_url)
    return recorded


def typed(harness, line: str) -> JobEnvelope:
    """The job the ack queues for `line`, as typed (`--dry-run` included)."""
    name, _, text = line.partition(" ")
    job_id = job_id_for("T0001", uuid.uuid4().hex)
    planned = plan_job(
        name,
        text,
        Requester(user_id="U0ALICE", team_id="T0001", channel_id="C0OPS"),
        job_id=job_id,
        response_url=harness.slack.response_url(job_id),
        now=harness.clock.now(),
        inventory=harness.inventory,
    )
    assert isinstance(planned, JobEnvelope), planned
    return planned


def final_text(harness, job: JobEnvelope) -> str:
    finals = [m for m in harness.slack.messages(job=job.job_id) if m.final]
    assert len(finals) == 1, [m.text for m in harness.slack.messages(job=job.job_id)]
    return str(finals[0].text)


def primary(ecs: Any, cluster: str, service: str = "payment") -> str:
    [found] = ecs.describe_services(cluster=cluster, services=[service])["services"]
    return str(next(d["id"] for d in found["deployments"] if d["status"] == "PRIMARY"))


def test_a_restart_acts_in_the_targets_account_under_a_session_named_for_the_job(harness, eu, recorded):
    before = primary(eu, OTHER_CLUSTER)
    job = harness.job("/ops-restart payment-eu")

    harness.run(job)

    assert "Restart of `payment-eu` completed" in final_text(harness, job)
    assert primary(eu, OTHER_CLUSTER) != before
    entries = read(recorded, harness)
    assert moto_count(entries, "AssumeRole", f"RoleSessionName=opsbot-{job.job_id}") >= 1
    assert moto_count(entries, "AssumeRole", "RoleSessionName=opsbot-") == moto_count(
        entries, "AssumeRole", f"RoleSessionName=opsbot-{job.job_id}"
    )


def test_a_retry_reconciles_in_the_targets_account_and_does_not_restart_again(harness, eu, recorded):
    """An earlier attempt wrote its intent, made the deployment in account 222222222222, then died: the retry
    finds it there (the worker's own account has no such service) and makes no second one."""
    before = primary(eu, OTHER_CLUSTER)
    job = harness.job("/ops-restart payment-eu")
    worker = harness.dispatcher()
    worker.ctx.intents.write(
        Intent(job_id=job.job_id, step=0, name="ecs-force-new-deployment", before={"deployment": before})
    )
    made = eu.update_service(cluster=OTHER_CLUSTER, service="payment", forceNewDeployment=True)
    earlier = next(d["id"] for d in made["service"]["deployments"] if d["status"] == "PRIMARY")

    worker.handle_record(job.to_message(), 2)

    first = harness.slack.messages(job=job.job_id)[0].text
    assert f"new deployment `{earlier}`" in first
    assert moto_count(read(recorded, harness), "UpdateService") == 1  # the earlier attempt's alone
    assert primary(eu, OTHER_CLUSTER) == earlier


def test_a_target_in_the_workers_own_account_is_reached_without_assuming_a_role(harness, recorded):
    job = harness.job("/ops-restart checkout")

    harness.run(job)

    assert "Restart of `checkout` completed" in final_text(harness, job)
    assert moto_count(read(recorded, harness), "AssumeRole") == 0


@pytest.fixture
def faulty() -> Iterator[list[FaultySts]]:
    started: list[FaultySts] = []
    yield started
    for sts in started:
        sts.server.shutdown()
        sts.server.server_close()


def with_sts(harness, sts: FaultySts) -> Any:
    assert harness.codebuild is not None
    endpoints = {"codebuild": harness.codebuild.url, "codepipeline": harness.codebuild.url, "sts": sts.url}
    return harness.dispatcher(service_endpoints=endpoints)


def test_a_role_that_cannot_be_assumed_is_one_clear_message_naming_it_and_no_retry(harness, faulty):
    sts = FaultySts(403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
    faulty.append(sts)
    job = harness.job("/ops-restart payment-eu")

    with_sts(harness, sts).handle_record(job.to_message(), 1)  # returns: SQS deletes it, nothing comes back

    text = final_text(harness, job)
    assert text.startswith(":x:") and OTHER_ROLE in text and "AccessDenied" in text
    assert sts.calls == 1
    assert harness.queued() == [] and harness.dead_letters() == []


def test_a_throttled_assume_role_is_delivered_again_and_then_runs(harness, eu, faulty):
    sts = FaultySts(400, "Throttling", "Rate exceeded")
    faulty.append(sts)
    before = primary(eu, OTHER_CLUSTER)
    job = harness.job("/ops-restart payment-eu")

    with pytest.raises(Exception, match=r"AssumeRole of .* failed \(Throttling\)"):
        with_sts(harness, sts).handle_record(job.to_message(), 1)  # raised: SQS delivers it again
    assert harness.slack.messages(job=job.job_id) == [] and primary(eu, OTHER_CLUSTER) == before

    harness.dispatcher().handle_record(job.to_message(), 2)  # the redelivery, STS answering again

    assert primary(eu, OTHER_CLUSTER) != before


# -- --dry-run ---------------------------------------------------------------------------------


def test_a_dry_run_of_a_restart_reads_the_target_changes_nothing_takes_no_lease_and_is_audited(harness, eu, recorded):
    before = primary(eu, OTHER_CLUSTER)
    job = typed(harness, "/ops-restart --dry-run payment-eu")
    worker = harness.dispatcher()

    worker.handle_record(job.to_message(), 1)

    text = final_text(harness, job)
    assert "Dry run of `/ops-restart --dry-run payment-eu`" in text and "2/2 tasks running" in text
    assert "Allowed by rule `demo-prod-operators`" in text and "Not locked" in text
    entries = read(recorded, harness)
    assert moto_count(entries, "DescribeServices") == 2  # the test's own look before, and the dry run's
    assert moto_count(entries, "UpdateService") == 0
    assert moto_count(entries, "AssumeRole", f"RoleSessionName=opsbot-{job.job_id}") == 1
    assert primary(eu, OTHER_CLUSTER) == before and harness.queued() == []
    assert worker.leases.holder("payment-eu") is None
    records = [r for r in worker.ctx.audit.history("payment-eu") if r.job_id == job.job_id]
    assert [r.event for r in records] == ["dry_run"] and records[0].detail == "allowed by rule demo-prod-operators"


def test_a_dry_run_of_a_migration_says_it_would_ask_to_confirm_and_starts_no_build(harness):
    assert harness.codebuild is not None
    job = typed(harness, "/ops-migrate payment 7 --dry-run")
    worker = harness.dispatcher()

    worker.handle_record(job.to_message(), 1)

    text = final_text(harness, job)
    assert "start CodeBuild project `payment-migrate` with MIGRATION_VERSION=7" in text
    assert "Would ask you to confirm first" in text and "has no builds yet" in text
    assert harness.codebuild.builds_of(MIGRATION_PROJECT) == []
    assert worker.leases.holder("payment") is None
    assert worker.ctx.decisions.get(job.job_id) is None  # no prompt decided, none posted
    assert [m.kind for m in harness.slack.messages(job=job.job_id)] == ["response_url"]


def test_a_dry_run_of_a_busy_target_names_the_job_holding_its_lease(harness):
    running = harness.job("/ops-restart checkout")
    worker = harness.dispatcher()
    worker.handle_record(running.to_message(), 1)  # waits, holding the lease
    dry = typed(harness, "/ops-restart checkout --dry-run")

    worker.handle_record(dry.to_message(), 1)

    text = final_text(harness, dry)
    assert ":lock: Locked: `/ops-restart checkout` by <@U0ALICE>" in text and f"(job `{running.short_id}`)" in text
    assert worker.leases.holder("checkout").owner_job == running.job_id  # still the running job's


def test_a_dry_run_the_policy_would_refuse_says_so_and_reads_nothing(harness, recorded):
    harness.inventory_toml = demo_inventory_toml(harness.cluster).replace(
        'name = "demo-prod-operators"', 'name = "demo-prod-operators"\nchannels = ["C0ELSEWHERE"]'
    )
    job = typed(harness, "/ops-restart payment --dry-run")

    harness.dispatcher().handle_record(job.to_message(), 1)

    text = final_text(harness, job)
    assert "Would be refused by rule `demo-prod-operators`" in text and "Not read" in text
    assert moto_count(read(recorded, harness), "DescribeServices") == 0


def test_dry_runs_of_a_jenkins_build_and_a_regression_suite_queue_and_start_nothing(harness):
    from infra.devstack.demo import REGRESSION_PROJECT

    assert harness.codebuild is not None and harness.jenkins is not None
    build = typed(harness, "/ops-build deploy-web ENV=staging --dry-run")
    suite = typed(harness, "/ops-regression --dry-run smoke")
    worker = harness.dispatcher()

    worker.handle_record(build.to_message(), 1)
    worker.handle_record(suite.to_message(), 1)

    assert "queue a build of Jenkins `web/deploy` with ENV=staging" in final_text(harness, build)
    assert "start CodeBuild project `regression-smoke`" in final_text(harness, suite)
    assert harness.jenkins.queued == [] and harness.codebuild.builds_of(REGRESSION_PROJECT) == []
    assert worker.leases.holder("deploy-web") is None and worker.leases.holder("smoke") is None
