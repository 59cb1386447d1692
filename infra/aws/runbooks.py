"""The runbooks the inventory defines in this repository, deployed as Step Functions state machines, each with a
role of its own. (What the worker may call on them, `state_machine` and `execution` grants, is declared by its
operations: infra/aws/worker_permissions.py.)

A definition's tasks are granted on exactly the inventory's resources: an `aws-sdk:ecs:*` task on the ECS services
of the runbook's targets, an `sqs:sendMessage` task (a state that waits for a person) on the jobs queue. A task
of any other service stops the synth, naming the runbook and the state: opsbot cannot tell what it would touch
(an existing state machine, named by `state_machine_arn`, brings its own role).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.aws.nag import acknowledge
from shared.inventory import Inventory, InventoryError
from shared.runbooks import DefinitionError, deployed_definition, state_machine_name, task_resources

ROOT = Path(__file__).resolve().parents[2]


_SDK_TASK = re.compile(r"^arn:aws:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$")
_SQS_TASK = re.compile(r"^arn:aws:states:::sqs:sendMessage(\.waitForTaskToken)?$")
#: The `aws-sdk` services a runbook's tasks may call, and what opsbot scopes them to.
_SDK_SERVICES = {"ecs"}


@dataclass(frozen=True)
class TaskGrant:
    """What one runbook's role may call: IAM actions on the targets' ECS services, and whether it sends to the
    jobs queue."""

    ecs_actions: tuple[str, ...] = ()
    sends_to_queue: bool = False


def definitions(inventory: Inventory, *, root: Path = ROOT, source: str = "inventory") -> dict[str, dict[str, Any]]:
    """Each runbook defined in this repository: its definition, checked (`InventoryError` naming the key)."""
    found: dict[str, dict[str, Any]] = {}
    for name, book in inventory.runbooks.items():
        if book.definition is None:
            continue
        try:
            document = deployed_definition(book, root)
            grant_of(document, has_ecs=any(inventory.targets[t].ecs for t in book.targets))
        except DefinitionError as exc:
            raise InventoryError(f"{source} is invalid: runbooks.{name}.definition: {exc}") from None
        found[name] = document
    return found


def grant_of(document: dict[str, Any], *, has_ecs: bool) -> TaskGrant:
    ecs: set[str] = set()
    queue = False
    for state, resource in task_resources(document):
        sdk = _SDK_TASK.match(resource)
        if sdk and sdk.group(1) in _SDK_SERVICES:
            if not has_ecs:
                raise DefinitionError(f"state {state!r} calls ECS, and the runbook names no ECS target to scope it to")
            action = sdk.group(2)
            ecs.add(f"ecs:{action[:1].upper()}{action[1:]}")
        elif _SQS_TASK.match(resource):
            queue = True
        else:
            raise DefinitionError(
                f"state {state!r} uses {resource!r}, which opsbot cannot scope to the inventory's resources "
                "(aws-sdk:ecs and sqs:sendMessage tasks only; name an existing state machine with state_machine_arn "
                "instead)"
            )
    return TaskGrant(ecs_actions=tuple(sorted(ecs)), sends_to_queue=queue)


class Runbooks(Construct):
    """One state machine per runbook defined here, each with its own least-privilege role."""

    def __init__(self, scope: Construct, construct_id: str, *, inventory: Inventory, queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.machines: dict[str, sfn.StateMachine] = {}
        for name, document in definitions(inventory).items():
            book = inventory.runbooks[name]
            targets = [inventory.targets[t] for t in book.targets]
            grant = grant_of(document, has_ecs=any(t.ecs for t in targets))
            role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
            if grant.ecs_actions:
                services = sorted({(t.ecs.cluster, t.ecs.service) for t in targets if t.ecs is not None})
                role.add_to_policy(
                    iam.PolicyStatement(
                        actions=list(grant.ecs_actions),
                        resources=[
                            stack.format_arn(service="ecs", resource="service", resource_name=f"{c}/{s}")
                            for c, s in services
                        ],
                    )
                )
            if grant.sends_to_queue:
                role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
            log_group = logs.LogGroup(self, f"{name}Logs", retention=logs.RetentionDays.ONE_MONTH)
            machine = sfn.StateMachine(
                self,
                name,
                state_machine_name=state_machine_name(name),
                definition_body=sfn.DefinitionBody.from_string(json.dumps(document)),
                role=role,
                tracing_enabled=True,
                logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
            )
            self.machines[name] = machine
            if role.node.try_find_child("DefaultPolicy") is None:
                continue
            acknowledge(
                role.node.find_child("DefaultPolicy"),
                "AwsSolutions-IAM5[Resource::*]",
                "CDK's grants for the state machine's logs and X-Ray traces (logs:*Delivery*, logs:*ResourcePolicy*, "
                "xray:Put*) have no resource-level permissions; its own tasks are granted on the inventory's "
                "resources only.",
            )

    def arns(self) -> dict[str, str]:
        return {name: machine.state_machine_arn for name, machine in self.machines.items()}
