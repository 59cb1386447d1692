"""ECS deployments for moto's UpdateService, applied only inside the local stack's moto server
(`python -m infra.devstack.moto_server`); moto itself is not modified on disk.

Why: moto 5.2 keeps a service's one deployment as it was created. UpdateService with a new taskDefinition changes
the service's `taskDefinition` (as typed, `payment:1`, not its ARN) but no deployment, so a rollback could never be
seen rolling out; a new desiredCount changes the service's counts but not its deployment's. This makes a new task
definition start a new PRIMARY deployment on its ARN (the old one is gone at once: its tasks are replaced at once,
as moto runs every task at once), and keeps the PRIMARY deployment's counts equal to the service's. Restarts
(`forceNewDeployment`) stay as moto has them (a new id on the same deployment).

And as ECS documents (DescribeTaskDefinition, UpdateService): an INACTIVE (deregistered) revision can be described
only while a service uses it, and no service can be updated to one; moto allowed both.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any


def deployment_counts(service: Any, deployment: dict[str, Any]) -> None:
    """The deployment's desired/running/pending counts and rollout state as the service's (moto's are at once)."""
    running, desired = int(service.running_count), int(service.desired_count)
    done = running >= desired
    deployment.update(
        desiredCount=desired,
        runningCount=running,
        pendingCount=max(desired - running, 0),
        rolloutState="COMPLETED" if done else "IN_PROGRESS",
        rolloutStateReason=f"ECS deployment {deployment['id']} {'completed' if done else 'in progress'}.",
        updatedAt=datetime.now(UTC),
    )


def new_deployment(service: Any, arn: str) -> None:
    """A new PRIMARY deployment of the service on task definition `arn`, replacing the ones there were."""
    old = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
    if old is None:
        return
    now = datetime.now(UTC)
    deployment = {**old, "id": f"ecs-svc/{random.randint(0, 32**12)}", "taskDefinition": arn, "createdAt": now}
    deployment_counts(service, deployment)
    service.deployments = [deployment]


def in_use(backend: Any, arn: str) -> bool:
    """Some service of the backend runs task definition `arn`."""
    return any(
        service.task_definition == arn or any(d.get("taskDefinition") == arn for d in service.deployments)
        for service in backend.services.values()
    )


def apply() -> bool:
    """Wrap moto's ECS `update_service` and DescribeTaskDefinition; False if moto's layout differs."""
    try:
        from moto.ecs import exceptions, models, responses
    except ImportError:
        return False
    backend = getattr(models, "EC2ContainerServiceBackend", None)
    original = getattr(backend, "update_service", None)
    response = getattr(responses, "EC2ContainerServiceResponse", None)
    describe = getattr(response, "describe_task_definition", None)
    if backend is None or original is None or response is None or describe is None:
        return False
    if not hasattr(backend, "describe_task_definition"):
        return False

    def describe_task_definition(self: Any) -> Any:
        found = self.ecs_backend.describe_task_definition(self._get_param("taskDefinition"))
        if found.status == "INACTIVE" and not in_use(self.ecs_backend, found.arn):
            raise exceptions.TaskDefinitionNotFoundException()
        return describe(self)

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        asked = dict(service_properties)  # moto pops what it reads
        named = asked.get("task_definition")
        if named and self.describe_task_definition(named).status == "INACTIVE":
            raise exceptions.EcsClientException("TaskDefinition is inactive")
        service = original(self, service_properties)
        if named:
            arn = self.describe_task_definition(named).arn
            before = next((d.get("taskDefinition") for d in service.deployments if d.get("status") == "PRIMARY"), None)
            service.task_definition = arn
            if arn != before:
                new_deployment(service, arn)
        if asked.get("desired_count") is not None:
            for deployment in service.deployments:
                if deployment.get("status") == "PRIMARY":
                    deployment_counts(service, deployment)
        return service

    backend.update_service = update_service
    response.describe_task_definition = describe_task_definition
    return True
