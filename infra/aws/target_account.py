"""A small stack per role the inventory names in another account: the role the worker assumes there.

Deployed in that account (`cdk deploy OpsbotTarget-222222222222-opsbot-target` with its credentials), after the
opsbot stack: IAM checks that the trusted principal, the worker's role, exists. The role trusts the worker's role
alone, and holds exactly what the targets and runbooks reached through it need (a runbook's existing state
machine there: the Step Functions calls its operations declare, on it and its executions), derived from the
inventory as the worker's own permissions are (infra/aws/worker_permissions.py), per region they name.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.aws.policy_packing import packed_role
from infra.aws.worker_permissions import InventoryResources, operation_permissions, placements
from shared.inventory import Inventory

#: The worker's role has this name when the inventory names other accounts' roles, so their trust policies
#: can name it before it exists in a template they can reference (stacks in two accounts share no outputs).
WORKER_ROLE_NAME = "opsbot-worker"

_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>[0-9]{12}):role(?P<path>/(?:.*/)?)(?P<name>[^/]+)$"
)


def parse_role_arn(role_arn: str) -> dict[str, str]:
    """partition, account, path (`/` or `/a/b/`) and name of a role ARN the inventory validated."""
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise ValueError(f"not a role ARN: {role_arn}")
    return match.groupdict()


def stack_name_for(role_arn: str) -> str:
    """`OpsbotTarget-<account>-<role name>` (CloudFormation: letters, digits and hyphens)."""
    parts = parse_role_arn(role_arn)
    name = re.sub(r"[^A-Za-z0-9-]", "-", parts["name"])
    return f"OpsbotTarget-{parts['account']}-{name}"[:128]


def worker_role_arn(role_arn: str, worker_account: str) -> str:
    """The worker's role, in the partition of the role that trusts it."""
    return f"arn:{parse_role_arn(role_arn)['partition']}:iam::{worker_account}:role/{WORKER_ROLE_NAME}"


class TargetAccountStack(Stack):
    """The role `role_arn` names, trusted by the worker's role, with exactly its targets' and runbooks'
    permissions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        inventory: Inventory,
        role_arn: str,
        trusted_role_arn: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        parts = parse_role_arn(role_arn)
        statements: list[iam.PolicyStatement] = []
        wildcards: list[tuple[str, str]] = []
        for reached_through, region in placements(inventory):
            if reached_through != role_arn:
                continue
            # A target naming no region is acted on in the worker's region: deploy this stack there.
            found = operation_permissions(
                self, InventoryResources.of(inventory, role_arn=role_arn, region=region), region=region
            )
            statements += found.statements
            wildcards += found.wildcards
        # Within IAM's quotas however many targets this account has (infra/aws/policy_packing.py); the trust
        # policy names one role: about 150 characters of the 2,048 allowed (infra/aws/quotas.py checks it).
        self.role, self.managed_policies = packed_role(
            self,
            "Role",
            role_name=parts["name"],
            path=parts["path"],
            assumed_by=iam.ArnPrincipal(trusted_role_arn),
            description="opsbot's worker acts here for the inventory's targets and runbooks: least privilege",
            packed=statements,
            wildcards=wildcards,
        )
