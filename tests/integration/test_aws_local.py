"""moto in server mode as a subprocess, and what `provision` creates in it."""

from __future__ import annotations

import json
import socket

import pytest

from infra.devstack.aws import DEMO_CLUSTER, MotoServer, aws_client, provision, provision_demo_ecs
from infra.devstack.errors import MotoStartError
from shared.settings import IDEMPOTENCY_TABLE, LEASES_TABLE, MAX_RECEIVE_COUNT

pytestmark = pytest.mark.integration


def test_provision_creates_the_queue_with_its_dlq_tables_and_demo_services(moto_server):
    provisioned = provision(moto_server.endpoint_url, visibility_timeout=7)
    sqs = aws_client("sqs", moto_server.endpoint_url)
    ecs = aws_client("ecs", moto_server.endpoint_url)
    dynamodb = aws_client("dynamodb", moto_server.endpoint_url)

    attrs = sqs.get_queue_attributes(QueueUrl=provisioned.queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": provisioned.queues.dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
    assert attrs["VisibilityTimeout"] == "7" and attrs["QueueArn"] == provisioned.queue_arn
    assert provisioned.dlq_url.endswith("/opsbot-jobs-dlq")

    services = ecs.describe_services(cluster=DEMO_CLUSTER, services=["payment", "checkout"])["services"]
    assert {(s["serviceName"], s["desiredCount"]) for s in services} == {("payment", 2), ("checkout", 2)}
    deployment = services[0]["deployments"][0]
    assert deployment["status"] == "PRIMARY" and deployment["rolloutState"] == "COMPLETED"
    assert deployment["runningCount"] == 2  # the session's moto runs with MOTO_ECS_SERVICE_RUNNING=2

    keys = {
        name: dynamodb.describe_table(TableName=name)["Table"]["KeySchema"][0]["AttributeName"]
        for name in (IDEMPOTENCY_TABLE, LEASES_TABLE)
    }
    assert keys == {IDEMPOTENCY_TABLE: "id", LEASES_TABLE: "target"}


def test_provision_twice_is_harmless(moto_server):
    first = provision(moto_server.endpoint_url, visibility_timeout=7)
    second = provision(moto_server.endpoint_url, visibility_timeout=7)

    assert first == second


def test_moto_server_that_cannot_bind_fails_to_start_with_its_output():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MotoServer(port=taken.getsockname()[1], start_timeout_s=15)
        with pytest.raises(MotoStartError, match="exited"):
            server.start()


def test_moto_server_stops():
    with MotoServer() as server:
        assert server.is_answering()
    assert not server.is_answering()


def test_a_second_demo_cluster_reuses_the_task_definitions(moto_server):
    ecs = aws_client("ecs", moto_server.endpoint_url)

    provision_demo_ecs(ecs, cluster="first-cluster")
    provision_demo_ecs(ecs, cluster="second-cluster")

    revisions = {
        cluster: sorted(
            s["taskDefinition"].rsplit("/", 1)[1]
            for s in ecs.describe_services(cluster=cluster, services=["payment", "checkout"])["services"]
        )
        for cluster in ("first-cluster", "second-cluster")
    }
    assert revisions == {"first-cluster": ["checkout:2", "payment:2"], "second-cluster": ["checkout:2", "payment:2"]}
