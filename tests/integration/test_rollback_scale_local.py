"""/ops-rollback and /ops-scale on the whole local stack, as `opsbot send` sends them: signed request -> ingress
-> ack (Confirm prompt, answered Confirm) -> SQS -> poller -> worker -> moto's ECS -> the local Slack API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from infra.devstack.aws import aws_client
from infra.devstack.client import run_command
from infra.devstack.stack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


def send(stack: LocalStack, line: str, timeout: float = 30):
    return run_command(line, stack.target, timeout=timeout, emit=lambda _: None)


def payment(stack: LocalStack) -> dict:
    ecs = aws_client("ecs", stack.endpoint_url, stack.region)
    [service] = ecs.describe_services(cluster="opsbot-demo", services=["payment"])["services"]
    return service


def test_rollback_scale_and_refusals_in_order(stack):
    """One stack, one service: back to the previous revision, no revision before the first, forward to a named
    one, scaled within the bounds; then counts the ack refuses, with nothing queued."""
    back = send(stack, "/ops-rollback payment")
    assert "Run `/ops-rollback payment` on *prod*?" in back.ack_text and back.prompted
    assert back.ok, back.error
    assert "Rollback of `payment` completed" in back.messages[-1].text
    assert payment(stack)["taskDefinition"].endswith("task-definition/payment:1")

    first = send(stack, "/ops-rollback payment")
    assert first.result == "refused"
    assert "the first revision of its family: there is no previous revision" in first.messages[-1].text
    assert payment(stack)["taskDefinition"].endswith("task-definition/payment:1")

    forward = send(stack, "/ops-rollback payment 2")
    assert forward.ok, forward.error
    assert payment(stack)["taskDefinition"].endswith("task-definition/payment:2")

    scaled = send(stack, "/ops-scale payment 3")
    assert scaled.ok, scaled.error
    assert "Scale of `payment` completed" in scaled.messages[-1].text and "2 → 3 tasks" in scaled.messages[-1].text
    assert (payment(stack)["desiredCount"], payment(stack)["runningCount"]) == (3, 3)


@pytest.mark.parametrize(
    ("line", "told"),
    [
        ("/ops-scale payment 7", "`payment` scales between 1 and 6 tasks (the inventory&#39;s bounds): 7 is outside"),
        ("/ops-scale payment -1", "the count must be at least 0, got &#39;-1&#39;."),
        ("/ops-scale payment three", "the count must be a whole number of tasks"),
        ("/ops-scale payment 2.5", "the count must be a whole number of tasks"),
        ("/ops-rollback payment 0", "the revision is a revision number such as 3 or a task definition ARN"),
    ],
)
def test_a_bad_count_or_revision_is_refused_by_the_ack_and_nothing_is_queued(stack, line, told):
    before = payment(stack)

    outcome = send(stack, line, timeout=2)

    assert not outcome.queued and not outcome.prompted and outcome.messages == []
    assert told.replace("&#39;", "'") in outcome.ack_text
    assert "was not queued" in outcome.ack_text or "Usage:" in outcome.ack_text
    assert outcome.ack is not None and json.loads(outcome.ack.body)["response_type"] == "ephemeral"
    after = payment(stack)
    assert (after["desiredCount"], after["taskDefinition"]) == (before["desiredCount"], before["taskDefinition"])


def test_dry_runs_of_rollback_and_scale_say_what_would_change_and_change_nothing(stack):
    before = payment(stack)
    rollback = send(stack, "/ops-rollback payment --dry-run")
    assert rollback.ok, rollback.error
    said = rollback.messages[-1].text
    assert "Dry run of `/ops-rollback payment --dry-run`: nothing was changed." in said
    running = before["taskDefinition"].rsplit("/", 1)[-1]
    assert f"Runs `{running}`" in said and f"deploy `{running}` →" in said

    scale = send(stack, "/ops-scale payment 5 --dry-run")
    assert scale.ok, scale.error
    assert f"set the desired count of `payment` from {before['desiredCount']} to 5" in scale.messages[-1].text

    after = payment(stack)
    assert (after["taskDefinition"], after["desiredCount"]) == (before["taskDefinition"], before["desiredCount"])
    assert [d["id"] for d in after["deployments"]] == [d["id"] for d in before["deployments"]]
