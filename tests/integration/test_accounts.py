"""A target in another AWS account and region, against moto server: the worker assumes the role the inventory
names (session name carrying the job id), its calls land in that account and region, the credentials are
reused until shortly before expiry; STS refusing is a permanent error naming the role, STS throttling is
transient. (moto maps an assumed role's credentials to the role's account.)"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from infra.devstack.aws import FAKE_CREDENTIALS, MotoServer
from shared.inventory import Inventory
from shared.settings import WorkerSettings
from worker_function.accounts import REFRESH_MARGIN_S, SESSION_DURATION_S, TargetAccounts
from worker_function.errors import AssumeRoleError, AssumeRoleThrottledError

pytestmark = pytest.mark.integration

OTHER_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/opsbot-target"
INVENTORY = f"""
[accounts.prod-eu]
role_arn = "{ROLE}"
region = "eu-west-1"

[targets.payment-eu]
environment = "prod"
account = "prod-eu"
ecs = {{ cluster = "eu", service = "payment" }}

[targets.payment-us]
account = "prod-eu"
region = "us-west-2"
ecs = {{ cluster = "us", service = "payment" }}

[targets.local]
ecs = {{ cluster = "home", service = "payment" }}
"""


def settings(endpoint: str, **overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "jobs_queue_url": "http://127.0.0.1:1/q",
        "idempotency_table": "i",
        "leases_table": "l",
        "slack_bot_token": "xoxb-test",
        "aws_endpoint_url": endpoint,
        "aws_region": "us-east-1",
    }
    return WorkerSettings.model_validate(values | overrides)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return time.time() + self.now


@pytest.fixture
def inventory() -> Inventory:
    return Inventory.from_toml(INVENTORY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(moto_server: MotoServer, clock: Clock) -> TargetAccounts:
    session = boto3.session.Session(**FAKE_CREDENTIALS)
    return TargetAccounts(settings(moto_server.endpoint_url), session=session, clock=clock)


def test_a_targets_calls_go_to_its_account_and_region_under_a_session_named_for_the_job(accounts, inventory):
    job = uuid.uuid4().hex
    clients = accounts.for_target(inventory.target("payment-eu", "ecs"), job)

    identity = clients.client("sts").get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/opsbot-target/opsbot-{job}"
    assert clients.client("ecs").meta.region_name == "eu-west-1"


def test_resources_made_for_the_target_live_in_its_account_not_the_workers(accounts, inventory):
    cluster = f"eu-{uuid.uuid4().hex[:8]}"
    accounts.for_target(inventory.target("payment-eu", "ecs"), uuid.uuid4().hex).ecs.create_cluster(clusterName=cluster)

    other_job = accounts.for_target(inventory.target("payment-eu", "ecs"), uuid.uuid4().hex).ecs
    own = accounts.for_target(inventory.target("local", "ecs"), uuid.uuid4().hex).ecs
    other_region = accounts.for_target(inventory.target("payment-us", "ecs"), uuid.uuid4().hex).ecs
    assert cluster in str(other_job.list_clusters()["clusterArns"])
    assert f":{OTHER_ACCOUNT}:" in other_job.list_clusters()["clusterArns"][0]
    assert cluster not in str(own.list_clusters()["clusterArns"])
    assert cluster not in str(other_region.list_clusters()["clusterArns"])  # same account, us-west-2
    assert own.meta.region_name == "us-east-1"


def test_credentials_are_reused_for_the_job_until_shortly_before_they_expire(accounts, inventory, clock):
    target, job = inventory.target("payment-eu", "ecs"), uuid.uuid4().hex
    first = accounts.for_target(target, job)

    assert accounts.for_target(target, job) is first
    clock.now = SESSION_DURATION_S - REFRESH_MARGIN_S - 60
    assert accounts.for_target(target, job) is first
    clock.now = SESSION_DURATION_S - REFRESH_MARGIN_S + 1
    renewed = accounts.for_target(target, job)
    assert renewed is not first and renewed.credentials != first.credentials
    assert accounts.for_target(target, uuid.uuid4().hex) is not renewed  # another job: its own session name


def test_a_target_without_a_role_uses_the_workers_own_credentials(accounts, inventory):
    clients = accounts.for_target(inventory.target("local", "ecs"), "job")

    assert clients is accounts.own  # the worker's own clients, as they are: no AssumeRole, no other client
    assert clients.client("sts").get_caller_identity()["Account"] != OTHER_ACCOUNT


# -- STS refusing or throttling (a local HTTP server playing STS's error answers) ------------------


class FaultySts:
    """Answers every AssumeRole with one STS error (query protocol XML), counting the calls."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.calls = 0
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        ).encode()
        sts = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sts.calls += 1
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def faulty() -> Iterator[list[FaultySts]]:
    started: list[FaultySts] = []
    yield started
    for sts in started:
        sts.server.shutdown()
        sts.server.server_close()


def accounts_with(sts: FaultySts) -> TargetAccounts:
    worker = settings("http://127.0.0.1:1", service_endpoints={"sts": sts.url})
    return TargetAccounts(worker, session=boto3.session.Session(**FAKE_CREDENTIALS))


def test_access_denied_is_a_permanent_error_naming_the_role_and_is_not_retried(faulty, inventory):
    sts = FaultySts(403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
    faulty.append(sts)

    with pytest.raises(AssumeRoleError) as raised:
        accounts_with(sts).for_target(inventory.target("payment-eu", "ecs"), "job-1")
    assert ROLE in str(raised.value) and "AccessDenied" in str(raised.value)
    assert sts.calls == 1


def test_a_region_not_enabled_is_permanent_and_says_so(faulty, inventory):
    sts = FaultySts(403, "RegionDisabledException", "STS is not activated in this region")
    faulty.append(sts)

    with pytest.raises(AssumeRoleError, match="the region is not enabled") as raised:
        accounts_with(sts).for_target(inventory.target("payment-eu", "ecs"), "job-1")
    assert "eu-west-1" in str(raised.value)


def test_throttling_is_transient_after_botocores_bounded_retries(faulty, inventory):
    sts = FaultySts(400, "Throttling", "Rate exceeded")
    faulty.append(sts)

    with pytest.raises(AssumeRoleThrottledError):
        accounts_with(sts).for_target(inventory.target("payment-eu", "ecs"), "job-1")
    assert sts.calls == 3  # AWS_CONFIG: 3 attempts in botocore's standard mode
