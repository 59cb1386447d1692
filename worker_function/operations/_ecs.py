"""ECS facts shared by the operations that read services (deployments, rollout state, task definitions), and
the follow-the-deployment step of those that change them (restart, rollback)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared import blockkit
from shared.inventory_entries import EcsService
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext, StepResult, StepState, Wait


def describe_service(aws: Clients, ecs: EcsService, what: str) -> dict[str, Any]:
    """The ACTIVE (or DRAINING) service, or `PermanentJobError` when there is none. `aws`: the target's
    clients (`OperationContext.aws_for`)."""
    with classify_aws_errors(f"cannot {what} `{ecs.service}` in cluster `{ecs.cluster}`"):
        response = aws.ecs.describe_services(cluster=ecs.cluster, services=[ecs.service])
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise PermanentJobError(f"there is no ECS service `{ecs.service}` in cluster `{ecs.cluster}`")
    return dict(services[0])


def rollout_state(deployment: dict[str, Any]) -> str:
    """COMPLETED, FAILED or IN_PROGRESS. ECS leaves rolloutState out for services without the rolling-update
    circuit breaker: then running >= desired counts as completed."""
    state = deployment.get("rolloutState")
    if state:
        return str(state)
    done = deployment.get("runningCount", 0) >= deployment.get("desiredCount", 0)
    return "COMPLETED" if done else "IN_PROGRESS"


def deployment_facts(deployment: dict[str, Any], now: datetime) -> dict[str, Any]:
    created = deployment.get("createdAt")
    return {
        "status": deployment["status"],
        "rollout_state": rollout_state(deployment),
        "running": deployment.get("runningCount", 0),
        "desired": deployment.get("desiredCount", 0),
        "pending": deployment.get("pendingCount", 0),
        "failed": deployment.get("failedTasks", 0),
        "task_definition": deployment["taskDefinition"].rsplit("/", 1)[-1],
        "age": blockkit.humanize_seconds((now - created).total_seconds()) if created else "?",
    }


def counts(deployment: dict[str, Any]) -> str:
    failed = deployment.get("failedTasks", 0)
    return (
        f"{deployment.get('runningCount', 0)}/{deployment.get('desiredCount', 0)} running, "
        f"{deployment.get('pendingCount', 0)} pending" + (f", {failed} failed" if failed else "")
    )


def primary(service: dict[str, Any]) -> dict[str, Any] | None:
    """The service's PRIMARY deployment (the one ECS is rolling out, or has rolled out)."""
    return next((dict(d) for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)


def follow_deployment(
    ctx: OperationContext,
    aws: Clients,
    ecs: EcsService,
    deployment_id: str,
    what: str,
    state: StepState,
    details: Sequence[str] = (),
) -> StepResult:
    """One look at deployment `deployment_id`: the outcome once its rollout is COMPLETED or FAILED (or it is
    gone), else a `Wait` with `state` to look again. `what` ("Restart of `payment`") and `details` are mrkdwn."""
    service = describe_service(aws, ecs, f"follow the {what.split(' ', 1)[0].lower()} of")
    deployment = next((d for d in service.get("deployments", []) if d["id"] == deployment_id), None)
    cluster = blockkit.echo(ecs.cluster)
    if deployment is None:
        return job_messages.outcome(
            None,
            f"{what}: deployment `{deployment_id}` is gone; another deployment replaced it.",
            details,
            in_channel=True,
        )
    rollout = rollout_state(deployment)
    facts = counts(deployment)
    if rollout == "COMPLETED":
        headline = f"{what} completed (cluster {cluster}): deployment `{deployment['id']}`, {facts}."
        return job_messages.outcome(True, headline, details, in_channel=True)
    if rollout == "FAILED":
        reason = blockkit.escape(blockkit.shorten(deployment.get("rolloutStateReason") or "the rollout failed", 500))
        headline = f"{what} FAILED (cluster {cluster}): deployment `{deployment['id']}`, {facts}."
        return job_messages.outcome(False, headline, [*details, reason], in_channel=True)
    headline = f"{what} in progress: deployment `{deployment['id']}`, {facts}; rollout {rollout}."
    return Wait(
        progress=job_messages.progress(headline, details), state=state.changed(summary=facts), delay_s=ctx.poll_delay()
    )


def task_definition(aws: Clients, reference: str, what: str) -> dict[str, Any] | None:
    """The task definition `family:revision` or ARN (ACTIVE or INACTIVE); None when ECS has no such revision."""
    with classify_aws_errors(f"cannot {what} task definition {reference}"):
        try:
            return dict(aws.ecs.describe_task_definition(taskDefinition=reference)["taskDefinition"])
        except ClientError as exc:  # ECS answers ClientException "Unable to describe task definition."
            if exc.response.get("Error", {}).get("Code") in ("ClientException", "InvalidParameterException"):
                return None
            raise


#: Pages of INACTIVE revisions (100 each) looked through for one ECS will not describe.
INACTIVE_PAGES = 5


def deregistered(aws: Clients, family: str, revision: int) -> bool:
    """Whether `family:revision` is an INACTIVE (deregistered) revision. ECS describes an INACTIVE revision only
    while a service or task uses it (DescribeTaskDefinition), so a missing one is looked for in the list."""
    wanted = f"task-definition/{family}:{revision}"
    with classify_aws_errors(f"cannot list the deregistered revisions of {family}"):
        pages = aws.ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix=family, status="INACTIVE", sort="DESC", PaginationConfig={"MaxItems": 100 * INACTIVE_PAGES}
        )
        return any(arn.endswith(wanted) for page in pages for arn in page.get("taskDefinitionArns", []))


def revision_name(task_definition: dict[str, Any]) -> str:
    """`family:revision`, as ECS's console and `/deploy-status` show it."""
    return f"{task_definition['family']}:{task_definition['revision']}"


#: Containers whose images a from -> to line names; the rest are counted.
IMAGES_SHOWN = 5


def images(task_definition: dict[str, Any]) -> str:
    """The images of the task definition's containers, escaped, each cut short, the rest counted."""
    found = [str(c.get("image", "?")) for c in task_definition.get("containerDefinitions", [])]
    shown = ", ".join(blockkit.echo(image, 120) for image in found[:IMAGES_SHOWN]) or "no containers"
    return shown + (f" and {len(found) - IMAGES_SHOWN} more" if len(found) > IMAGES_SHOWN else "")
