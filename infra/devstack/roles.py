"""Each function under its own role: the role and policies the template gives it, created in moto, and
credentials of a session of that role (moto STS AssumeRole), as Lambda gives a function its execution role's.

Provisioning runs with the admin identity (`FAKE_CREDENTIALS`, never checked); every call made with the
credentials returned here is checked by the moto server on its resource (`infra.devstack.moto_iam`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.devstack.aws import Queues, Tables, aws_client, sdk_session
from infra.devstack.codebuild import CodeBuildServer
from infra.devstack.deployed import (
    LocalResources,
    RolePolicies,
    function_policies,
    iam_inventory,
    role_policies,
    state_machine_roles,
    template,
)
from infra.devstack.moto_iam import ENFORCED_TAG, policy_document
from infra.devstack.stand_in_iam import EnforcedSession


@dataclass(frozen=True)
class RoleCredentials:
    """Temporary credentials of one session of a function's role."""

    role_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """What Lambda puts in a function's environment for its role."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def session(self, region: str = "us-east-1") -> Any:
        """A new boto3 Session of these credentials (on the process's shared SDK data, `sdk_session`)."""
        return sdk_session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=region,
        )

    def client_kwargs(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


def put_policies(endpoint_url: str, role_name: str, policies: RolePolicies, region: str = "us-east-1") -> None:
    """Make the role's policies exactly `policies` (inline and managed), replacing what it had."""
    iam = aws_client("iam", endpoint_url, region)
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role_name, PolicyName=name)
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=role_name, PolicyArn=attached["PolicyArn"])
        iam.delete_policy(PolicyArn=attached["PolicyArn"])
    for name, document in policies.inline:
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document))
    for name, document in policies.managed:
        arn = iam.create_policy(
            PolicyName=f"{role_name}-{name}-{uuid.uuid4().hex[:6]}", PolicyDocument=json.dumps(document)
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)


def role_documents(endpoint_url: str, role_name: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    """The role's policy documents as moto holds them now (inline, then attached managed), read as admin."""
    iam = aws_client("iam", endpoint_url, region)
    documents: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        documents.append(policy_document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]))
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        documents.append(policy_document(version["PolicyVersion"]["Document"]))
    return documents


def enforce_on_stand_ins(
    server: CodeBuildServer,
    endpoint_url: str,
    credentials: RoleCredentials,
    *,
    region: str = "us-east-1",
    denials_path: str | None = None,
) -> None:
    """Have the local CodeBuild/CodePipeline check `credentials`' calls against the role's policies in moto (read
    at each call, so a policy changed afterwards applies at once), as the moto server checks its own calls."""
    server.enforce(
        credentials.access_key_id,
        EnforcedSession(
            credentials.role_name,
            lambda: role_documents(endpoint_url, credentials.role_name, region),
            denials_path,
        ),
    )


def create_enforced_role(
    endpoint_url: str, name: str, policies: RolePolicies, *, region: str = "us-east-1", service: str = "lambda"
) -> str:
    """Create the role `name` (unique in this moto), assumed by `service`, with `policies`, tagged to be checked:
    its ARN."""
    iam = aws_client("iam", endpoint_url, region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": ENFORCED_TAG, "Value": "true"}],
    )["Role"]["Arn"]
    put_policies(endpoint_url, name, policies, region)
    return str(arn)


def provision_role(
    endpoint_url: str, name: str, policies: RolePolicies, *, region: str = "us-east-1"
) -> RoleCredentials:
    """Create the role `name` (unique in this moto) with `policies`, tagged to be checked, and a session of it."""
    arn = create_enforced_role(endpoint_url, name, policies, region=region)
    credentials = aws_client("sts", endpoint_url, region).assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return RoleCredentials(
        role_name=name,
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )


def local_resources(
    queues: Queues, tables: Tables, *, region: str = "us-east-1", secret_arn: str | None = None
) -> LocalResources:
    """The local queues and tables as the template's references resolve to them."""
    from shared.settings import AUDIT_TABLE, IDEMPOTENCY_TABLE, LEASES_TABLE

    return LocalResources(
        region=region,
        queue_url=queues.queue_url,
        queue_arn=queues.queue_arn,
        dlq_url=queues.dlq_url,
        dlq_arn=queues.dlq_arn,
        tables={IDEMPOTENCY_TABLE: tables.idempotency, LEASES_TABLE: tables.leases, AUDIT_TABLE: tables.audit},
        secret_arn=secret_arn,
    )


def provision_function_roles(
    endpoint_url: str,
    inventory_toml: str,
    local: LocalResources,
    *,
    functions: Sequence[str] = ("ack", "worker"),
    prefix: str = "opsbot",
) -> dict[str, RoleCredentials]:
    """Each function's role as the template synthesized for `inventory_toml` has it, with a session of each:
    {"ack": ..., "worker": ...}. Role names get a random suffix (several stacks may share one moto). The template
    is the one of the inventory without the tables IAM does not depend on (`iam_inventory`): one synth serves
    inventories that differ only in their [policy]."""
    deployed = template(iam_inventory(inventory_toml))
    suffix = uuid.uuid4().hex[:8]
    return {
        function: provision_role(
            endpoint_url,
            f"{prefix}-{function}-{suffix}",
            function_policies(deployed, function, local),
            region=local.region,
        )
        for function in functions
    }


def provision_runbook_roles(endpoint_url: str, inventory_toml: str, local: LocalResources) -> dict[str, str]:
    """The role of each runbook's state machine as the template synthesized for `inventory_toml` has it (its
    tasks' grants on the inventory's resources), created in moto and checked like the functions' roles: runbook
    name -> role ARN, for `provision_runbooks`. moto's interpreter runs the machine's tasks as that role
    (`infra.devstack.moto_sfn`)."""
    from shared.inventory import Inventory
    from shared.runbooks import state_machine_name

    deployed = template(iam_inventory(inventory_toml))
    roles = state_machine_roles(deployed)
    suffix = uuid.uuid4().hex[:8]
    found: dict[str, str] = {}
    for name, book in Inventory.from_toml(inventory_toml).runbooks.items():
        machine = state_machine_name(name)
        if book.definition is None or machine not in roles:
            continue
        found[name] = create_enforced_role(
            endpoint_url,
            f"{machine}-{suffix}"[:64],
            role_policies(deployed, roles[machine], local),
            region=local.region,
            service="states",
        )
    return found
