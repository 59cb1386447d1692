"""The worker's DynamoDB tables, as the CDK stack defines them (key and TTL attributes)."""

from __future__ import annotations

from typing import Any

from shared.settings import IDEMPOTENCY_TABLE, LEASES_TABLE

#: table name -> (partition key, TTL attribute). Powertools idempotency expects `id` and `expiration`.
TABLES = {IDEMPOTENCY_TABLE: ("id", "expiration"), LEASES_TABLE: ("target", "expires_at")}


def provision_tables(dynamodb: Any, *, suffix: str = "") -> dict[str, str]:
    """Create the tables (named with an optional suffix, for isolated tests); return logical -> real name."""
    existing = set(dynamodb.list_tables()["TableNames"])
    names = {}
    for table, (key, ttl_attribute) in TABLES.items():
        name = f"{table}{suffix}"
        names[table] = name
        if name in existing:
            continue
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
        )
    return names
