"""The worker's DynamoDB tables: idempotency records, target leases and the audit trail."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared.deployment import AUDIT, IDEMPOTENCY, LEASES
from shared.deployment import Table as TableDefinition


def _table(scope: Construct, construct_id: str, definition: TableDefinition) -> dynamodb.Table:
    """The table `definition` describes (shared/deployment.py: the local stack creates the same one)."""
    string = dynamodb.AttributeType.STRING
    table = dynamodb.Table(
        scope,
        construct_id,
        table_name=definition.name,
        partition_key=dynamodb.Attribute(name=definition.key, type=string),
        sort_key=dynamodb.Attribute(name=definition.sort_key, type=string) if definition.sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=definition.ttl_attribute,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        # Short-lived coordination state that expires by TTL; the fixed name must be free again
        # after `cdk destroy` so the stack can be deployed anew. The audit trail is retained.
        removal_policy=RemovalPolicy.RETAIN if definition.retain else RemovalPolicy.DESTROY,
    )
    if definition.index is not None:
        table.add_global_secondary_index(
            index_name=definition.index.name,
            partition_key=dynamodb.Attribute(name=definition.index.key, type=string),
            sort_key=dynamodb.Attribute(name=definition.index.sort_key, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
    return table


class State(Construct):
    """Idempotency: Powertools' DynamoDB layer defaults (partition key `id`, TTL `expiration`).
    Leases: one item per target (`target`), expiring by itself (`expires_at`) if a worker dies; also one
    `decision#<job id>` item per confirmation prompt or approval request (worker_function/store/decisions.py),
    and one `job#<job id>` item per running or waiting job, in its index `jobs` (worker_function/store/jobs.py).
    and one `freeze#<environment>` item per freeze (a lock is a target's lease; worker_function/store/holds.py).
    Audit: who did what, per target (`target`, sort key `sk`), kept until its retention TTL (`expires_at`);
    retained when the stack is destroyed (it is the record of what was done)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.idempotency = _table(self, "Idempotency", IDEMPOTENCY)
        # With the registry of jobs (`job#<job id>` items, worker_function/store/jobs.py) in its index: /ops-jobs
        # lists them and /ops-cancel finds one by its short id with one Query.
        self.leases = _table(self, "Leases", LEASES)
        self.audit = _table(self, "Audit", AUDIT)

    @property
    def tables(self) -> tuple[dynamodb.Table, dynamodb.Table, dynamodb.Table]:
        return (self.idempotency, self.leases, self.audit)
