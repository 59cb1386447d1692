"""Each function runs under the policy the CDK app synthesizes for its role, checked on every call's resource.

A grant removed from the template's policy is a call refused, as AWS would refuse it: with the template's
policy the same call goes through (so each test can fail), without the grant it is AccessDenied naming the
action, the resource and the role, and the moto server's denial log has it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.devstack.aws import aws_client
from infra.devstack.demo import OTHER_ROLE, demo_inventory_toml
from infra.devstack.deployed import RolePolicies, function_policies, iam_inventory, template
from infra.devstack.iam_policy import remove_action
from infra.devstack.roles import local_resources, provision_role
from opsbot_testkit.harness import Harness
from tests.integration.test_worker import final_texts

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Grant:
    """One permission of a function's role, and a call that needs it."""

    function: str
    action: str
    #: The resource the grant is removed from (None: the action on every resource).
    resource: Callable[[Harness], str | None]
    call: Callable[[Harness, Any], Any]
    #: The resource the refusal must name.
    denied_on: Callable[[Harness], str]


def _table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"


def _service_arn(h: Harness, service: str) -> str:
    return f"arn:aws:ecs:us-east-1:123456789012:service/{h.cluster}/{service}"


def _send(h: Harness, session: Any) -> Any:
    return _client(session, "sqs", h).send_message(QueueUrl=h.queues.queue_url, MessageBody="{}")


def _audit_batch(h: Harness, session: Any) -> Any:
    item = {"PutRequest": {"Item": {"target": {"S": "payment"}, "sk": {"S": uuid.uuid4().hex}}}}
    return _client(session, "dynamodb", h).batch_write_item(RequestItems={h.tables.audit: [item]})


def _idempotency_put(h: Harness, session: Any) -> Any:
    return _client(session, "dynamodb", h).put_item(
        TableName=h.tables.idempotency, Item={"id": {"S": f"opsbot#run-{uuid.uuid4().hex}"}}
    )


def _restart(service: str) -> Callable[[Harness, Any], Any]:
    def call(h: Harness, session: Any) -> Any:
        return _client(session, "ecs", h).update_service(cluster=h.cluster, service=service, forceNewDeployment=True)

    return call


def _assume_other_account(h: Harness, session: Any) -> Any:
    return _client(session, "sts", h).assume_role(RoleArn=OTHER_ROLE, RoleSessionName="opsbot-worker")


GRANTS = {
    "ack sqs:SendMessage": Grant("ack", "sqs:SendMessage", lambda h: None, _send, lambda h: h.queues.queue_arn),
    "worker dynamodb:BatchWriteItem on the audit table": Grant(
        "worker",
        "dynamodb:BatchWriteItem",
        lambda h: _table_arn(h.tables.audit),
        _audit_batch,
        lambda h: _table_arn(h.tables.audit),
    ),
    "worker dynamodb:PutItem on the idempotency table": Grant(
        "worker",
        "dynamodb:PutItem",
        lambda h: _table_arn(h.tables.idempotency),
        _idempotency_put,
        lambda h: _table_arn(h.tables.idempotency),
    ),
    "worker ecs:UpdateService on payment only": Grant(
        "worker",
        "ecs:UpdateService",
        lambda h: _service_arn(h, "payment"),
        _restart("payment"),
        lambda h: _service_arn(h, "payment"),
    ),
    "worker sts:AssumeRole of the other account": Grant(
        "worker", "sts:AssumeRole", lambda h: OTHER_ROLE, _assume_other_account, lambda h: OTHER_ROLE
    ),
}


def _client(session: Any, service: str, h: Harness) -> Any:
    from botocore.config import Config

    # One attempt: a refusal is not retried by the SDK either (AccessDenied is not retryable).
    return session.client(service, endpoint_url=h.moto.endpoint_url, config=Config(retries={"total_max_attempts": 1}))


def _role(h: Harness, function: str, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Any:
    """A session of `function`'s role with the template's policies passed through `edit`."""
    deployed = template(iam_inventory(demo_inventory_toml(h.cluster)))
    policies = function_policies(deployed, function, local_resources(h.queues, h.tables))
    inline = [(name, edit([doc])[0]) for name, doc in policies.inline]
    managed = [(name, edit([doc])[0]) for name, doc in policies.managed]
    name = f"opsbot-{function}-{uuid.uuid4().hex[:8]}"
    return provision_role(h.moto.endpoint_url, name, RolePolicies(inline=inline, managed=managed)).session()


@pytest.mark.iam_denials
@pytest.mark.parametrize("grant", list(GRANTS.values()), ids=list(GRANTS))
def test_a_grant_removed_from_the_template_is_a_call_refused_naming_action_resource_and_role(harness, grant):
    offset = harness.moto.denials()[1]
    allowed = _role(harness, grant.function, lambda docs: docs)
    grant.call(harness, allowed)  # the template's own policy allows it

    refused = _role(harness, grant.function, lambda docs: remove_action(docs, grant.action, grant.resource(harness)))
    with pytest.raises(ClientError) as denied:
        grant.call(harness, refused)

    error = denied.value.response["Error"]
    assert error["Code"] in ("AccessDenied", "AccessDeniedException")
    assert grant.action in error["Message"]
    assert grant.denied_on(harness) in error["Message"]
    assert f"assumed-role/opsbot-{grant.function}-" in error["Message"]
    [denial] = [d for d in harness.moto.denials(offset)[0] if d.action == grant.action]
    assert denial.resource == grant.denied_on(harness)
    assert denial.role.startswith(f"opsbot-{grant.function}-")


@pytest.mark.iam_denials
def test_update_service_removed_on_one_service_still_allows_the_others(harness):
    session = _role(
        harness, "worker", lambda docs: remove_action(docs, "ecs:UpdateService", _service_arn(harness, "payment"))
    )
    _restart("checkout")(harness, session)
    with pytest.raises(ClientError, match=r"ecs:UpdateService on resource: .*/payment"):
        _restart("payment")(harness, session)


@pytest.mark.iam_denials
def test_a_call_outside_every_grant_is_refused_and_an_unmapped_action_fails_loudly(harness):
    session = harness.worker_session()
    with pytest.raises(ClientError, match=r"ecs:UpdateService on resource: .*service/other-cluster/payment"):
        _client(session, "ecs", harness).update_service(cluster="other-cluster", service="payment")
    # An action the local check has no resource mapping for is refused, never let through.
    with pytest.raises(ClientError, match=r"dynamodb:DeleteTable.*no resource mapping"):
        _client(session, "dynamodb", harness).delete_table(TableName=harness.tables.audit)
    assert aws_client("dynamodb", harness.moto.endpoint_url).describe_table(TableName=harness.tables.audit)


def test_the_worker_runs_a_restart_under_its_role_without_a_refusal(harness):
    """The worker's whole path of /ops-restart (lease, run-once record, ECS, audit, registry) is inside its grant."""
    offset = harness.moto.denials()[1]
    job = harness.job("/ops-restart payment")
    harness.run(job)
    [text] = final_texts(harness, job)
    assert "Restart of `payment` completed" in text
    assert [d for d in harness.moto.denials(offset)[0] if d.role == harness.worker_role().role_name] == []
