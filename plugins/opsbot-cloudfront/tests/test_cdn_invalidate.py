"""/cdn-invalidate on moto's CloudFront and the local Slack, the worker under its deployed IAM role."""

from __future__ import annotations

from typing import Any

import pytest
from opsbot_cloudfront.spec import Distribution

from infra.devstack.aws import aws_client
from opsbot_testkit import Harness, around, prove_exactly_once
from shared.commands import DryRunArgs
from shared.jobs import JobEnvelope


def distribution_of(harness: Harness) -> str:
    table = harness.inventory.target("web", "cloudfront").table("cloudfront")
    assert isinstance(table, Distribution)
    return table.distribution_id


class Invalidations:
    """Counts a job's invalidations at CloudFront: those whose CallerReference carries its id (each invalidation
    read once: a reference never changes)."""

    def __init__(self) -> None:
        self._references: dict[str, str] = {}
        self._client: Any = None

    def __call__(self, harness: Harness, job: JobEnvelope) -> int:
        cloudfront = self._client = self._client or aws_client("cloudfront", harness.moto.endpoint_url)
        distribution = distribution_of(harness)
        listed = cloudfront.list_invalidations(DistributionId=distribution, MaxItems="1000")["InvalidationList"]
        for summary in listed.get("Items") or []:
            if summary["Id"] not in self._references:
                found = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]
                self._references[summary["Id"]] = found["InvalidationBatch"]["CallerReference"]
        return sum(1 for reference in self._references.values() if job.job_id in reference)


def finals(harness: Harness, job: JobEnvelope) -> list[Any]:
    return [m for m in harness.slack.messages(job=job.job_id) if m.final]


def test_an_invalidation_is_made_once_followed_until_completed_and_told_in_the_channel(opsbot_harness):
    job = opsbot_harness.job("/cdn-invalidate web /index.html /css/*")

    steps = opsbot_harness.run(job)

    assert Invalidations()(opsbot_harness, job) == 1
    [final] = finals(opsbot_harness, job)
    assert "completed" in final.text and "/index.html" in final.text and steps >= 2  # followed after its start
    assert final.payload.get("response_type") == "in_channel"


def test_a_dry_run_shows_the_distribution_and_invalidates_nothing(opsbot_harness):
    planned = opsbot_harness.job("/cdn-invalidate web /index.html")
    job = planned.changed(args=DryRunArgs(of=planned.args), confirmed_by=None)

    opsbot_harness.run(job)

    assert Invalidations()(opsbot_harness, job) == 0
    [final] = finals(opsbot_harness, job)
    assert distribution_of(opsbot_harness) in final.text and "invalidate" in final.text


def test_a_target_without_a_distribution_is_refused_naming_those_with_one(opsbot_harness):
    job = opsbot_harness.job("/cdn-invalidate payment")

    opsbot_harness.run(job)

    [final] = finals(opsbot_harness, job)
    assert "`web`" in final.text and "payment" in final.text


@pytest.mark.timeout(900)  # a guard against a hang, not a time asserted
def test_every_fault_on_the_path_still_invalidates_once_and_answers_once(opsbot_harness):
    proof = prove_exactly_once(
        opsbot_harness,
        "/cdn-invalidate web /index.html",
        effects=Invalidations(),
        effect_calls=("cloudfront.POST",),
        only=around("cloudfront"),  # its own requests and those next to them; the executor's are opsbot's scenarios'
    )

    print(proof.table())
    assert len(proof.runs) > 20 and not proof.bad, proof.table()
    faulted = {run.call.split(" ")[0] for run in proof.runs if run.fault is not None}
    assert {"cloudfront.GET", "cloudfront.POST", "dynamodb.PutItem"} <= faulted, faulted


def test_a_bug_in_the_plugin_fails_the_job_at_once_told_to_the_requester_never_retried(opsbot_harness, monkeypatch):
    from opsbot_cloudfront.operation import InvalidateOperation

    def broken(self, args, job, ctx):
        return {}["Invalidation"]  # a KeyError, as a misread answer would raise

    monkeypatch.setattr(InvalidateOperation, "run", broken)
    job = opsbot_harness.job("/cdn-invalidate web /index.html")

    steps = opsbot_harness.run(job)

    [final] = finals(opsbot_harness, job)
    assert steps == 1 and "plugin cloudfront" in final.text and "KeyError" in final.text, final.text
    assert opsbot_harness.dead_letters() == [] and opsbot_harness.queued() == []
    assert Invalidations()(opsbot_harness, job) == 0
