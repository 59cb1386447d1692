"""The local stack's moto server keeps DynamoDB's promise that a conditional write is atomic: of many
conditional puts racing for one key, exactly one wins (released moto checks, then writes, without a lock)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from infra.devstack.aws import aws_client
from infra.devstack.moto_dynamodb import apply

pytestmark = pytest.mark.integration

ROUNDS = 25
RACERS = 8


def test_of_conditional_puts_racing_for_one_key_exactly_one_wins_every_round(moto_server, tables):
    clients = [aws_client("dynamodb", moto_server.endpoint_url) for _ in range(RACERS)]
    for round_ in range(ROUNDS):
        key = f"race-{round_}"
        barrier = threading.Barrier(RACERS)
        won: list[int] = []

        def put(i: int, key: str = key, barrier: threading.Barrier = barrier, won: list[int] = won) -> None:
            client = clients[i]
            barrier.wait()
            try:
                client.put_item(
                    TableName=tables.leases,
                    Item={"target": {"S": key}, "owner_job": {"S": f"job-{i}"}},
                    ConditionExpression="attribute_not_exists(target)",
                )
                won.append(i)
            except client.exceptions.ConditionalCheckFailedException:
                pass

        threads = [threading.Thread(target=put, args=(i,)) for i in range(RACERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, f"round {round_}: {len(won)} conditional puts won"
        item = clients[0].get_item(TableName=tables.leases, Key={"target": {"S": key}}, ConsistentRead=True)["Item"]
        assert item["owner_job"]["S"] == f"job-{won[0]}"


def test_the_patch_applies_to_this_moto_and_only_once():
    from moto.dynamodb.models import DynamoDBBackend

    assert apply() and apply()
    put_item: Any = DynamoDBBackend.put_item
    assert getattr(put_item, "__opsbot_serialised__", False)
    assert not hasattr(put_item.__wrapped__, "__wrapped__")  # wrapped once, not twice
