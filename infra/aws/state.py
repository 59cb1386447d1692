"""The worker's DynamoDB tables: idempotency records and target leases."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared.settings import IDEMPOTENCY_TABLE, LEASES_TABLE


def _table(scope: Construct, construct_id: str, *, name: str, key: str, ttl_attribute: str) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        table_name=name,
        partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=ttl_attribute,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        # Short-lived coordination state that expires by TTL; the fixed name must be free again
        # after `cdk destroy` so the stack can be deployed anew.
        removal_policy=RemovalPolicy.DESTROY,
    )


class State(Construct):
    """Idempotency: Powertools' DynamoDB layer defaults (partition key `id`, TTL `expiration`).
    Leases: one item per target (`target`), expiring by itself (`expires_at`) if a worker dies."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.idempotency = _table(self, "Idempotency", name=IDEMPOTENCY_TABLE, key="id", ttl_attribute="expiration")
        self.leases = _table(self, "Leases", name=LEASES_TABLE, key="target", ttl_attribute="expires_at")

    @property
    def tables(self) -> tuple[dynamodb.Table, dynamodb.Table]:
        return (self.idempotency, self.leases)
