"""The worker's DynamoDB tables: idempotency records, target leases and the audit trail."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared.settings import AUDIT_TABLE, IDEMPOTENCY_TABLE, JOBS_INDEX, LEASES_TABLE


def _table(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    key: str,
    ttl_attribute: str,
    sort_key: str | None = None,
    removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        table_name=name,
        partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=ttl_attribute,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        # Short-lived coordination state that expires by TTL; the fixed name must be free again
        # after `cdk destroy` so the stack can be deployed anew.
        removal_policy=removal_policy,
    )


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
        self.idempotency = _table(self, "Idempotency", name=IDEMPOTENCY_TABLE, key="id", ttl_attribute="expiration")
        self.leases = _table(self, "Leases", name=LEASES_TABLE, key="target", ttl_attribute="expires_at")
        # The registry of jobs (`job#<job id>` items, worker_function/store/jobs.py): /ops-jobs lists them and
        # /ops-cancel finds one by its short id with one Query.
        self.leases.add_global_secondary_index(
            index_name=JOBS_INDEX,
            partition_key=dynamodb.Attribute(name="registry", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.audit = _table(
            self,
            "Audit",
            name=AUDIT_TABLE,
            key="target",
            sort_key="sk",
            ttl_attribute="expires_at",
            removal_policy=RemovalPolicy.RETAIN,
        )

    @property
    def tables(self) -> tuple[dynamodb.Table, dynamodb.Table, dynamodb.Table]:
        return (self.idempotency, self.leases, self.audit)
