"""`OperationContext.aws_for` without AWS: a target in the worker's account and region gets the worker's own
clients (no STS call, no other client); one in another account gets clients built from AssumeRole's credentials
in its region, under a session named for the job; STS refusing is permanent, throttling transient."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.inventory import Inventory
from shared.jobs import JobEnvelope, Requester
from shared.settings import WorkerSettings
from tests.unit.test_operation_context import Recorder, context
from worker_function.accounts import TargetAccounts
from worker_function.clients import AwsClients
from worker_function.errors import AssumeRoleError, AssumeRoleThrottledError, PermanentJobError

ROLE = "arn:aws:iam::222222222222:role/opsbot-target"
INVENTORY = Inventory.from_toml(
    f"""
[accounts.eu]
role_arn = "{ROLE}"
region = "eu-west-1"

[targets.payment-eu]
account = "eu"
ecs = {{ cluster = "eu", service = "payment" }}

[targets.home]
ecs = {{ cluster = "home", service = "payment" }}

[targets.west]
region = "us-west-2"
ecs = {{ cluster = "west", service = "payment" }}
"""
)


@dataclasses.dataclass
class FakeSts:
    log: Recorder
    error: str | None = None

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.log.calls.append(("sts.assume_role", kwargs))
        if self.error is not None:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "AssumeRole")
        expires = datetime.now(UTC) + timedelta(hours=1)
        return {"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T", "Expiration": expires}}


@dataclasses.dataclass
class FakeSession:
    """boto3's Session as TargetAccounts uses it: every client it builds is recorded."""

    log: Recorder
    error: str | None = None

    def client(self, service: str, **kwargs: Any) -> Any:
        self.log.calls.append((f"session.client:{service}", kwargs))
        return FakeSts(self.log, self.error) if service == "sts" else object()


def job() -> JobEnvelope:
    from shared.commands.builtin.restart import RestartArgs

    return JobEnvelope(
        job_id="0123456789abcdef0123456789abcdef",
        command="/ops-restart",
        text="payment-eu",
        args=RestartArgs(target="payment-eu"),
        requester=Requester(user_id="U0ALICE", team_id="T1", channel_id="C1"),
        issued_at=datetime.now(UTC),
        correlation_id="c",
    )


def built(error: str | None = None) -> tuple[Recorder, AwsClients, Any]:
    log = Recorder()
    settings = WorkerSettings(jobs_queue_url="https://sqs.example/jobs", aws_region="us-east-1")
    own = AwsClients(settings, session=FakeSession(log, error))
    ctx = context(log, settings=settings, aws=own, inventory=INVENTORY, accounts=TargetAccounts(settings, own=own))
    return log, own, ctx


def test_a_target_in_the_workers_account_and_region_gets_the_workers_own_clients_and_no_sts_call():
    log, own, ctx = built()

    assert ctx.aws_for(INVENTORY.target("home", "ecs"), job()) is own
    assert log.calls == []


def test_a_target_in_another_account_gets_clients_from_assume_role_in_its_region_named_for_the_job():
    log, own, ctx = built()

    clients = ctx.aws_for(INVENTORY.target("payment-eu", "ecs"), job())
    clients.client("ecs")

    assert clients is not own and clients.region == "eu-west-1"
    [(sts, sts_kwargs), (assumed, call), (ecs, ecs_kwargs)] = log.calls
    assert sts == "session.client:sts" and sts_kwargs["region_name"] == "eu-west-1"
    assert assumed == "sts.assume_role" and call["RoleArn"] == ROLE
    assert call["RoleSessionName"] == "opsbot-0123456789abcdef0123456789abcdef"
    assert ecs == "session.client:ecs" and ecs_kwargs["region_name"] == "eu-west-1"
    assert ecs_kwargs["aws_access_key_id"] == "A" and ecs_kwargs["aws_session_token"] == "T"
    assert ctx.aws_for(INVENTORY.target("payment-eu", "ecs"), job()) is clients  # cached for the job


def test_a_target_in_another_region_of_the_workers_account_assumes_nothing():
    log, own, ctx = built()

    clients = ctx.aws_for(INVENTORY.target("west", "ecs"), job())
    clients.client("ecs")

    assert clients is not own and clients.region == "us-west-2"
    assert [name for name, _ in log.calls] == ["session.client:ecs"]
    assert "aws_access_key_id" not in log.calls[0][1]


@pytest.mark.parametrize("code", ["AccessDenied", "RegionDisabledException"])
def test_sts_refusing_is_permanent_and_names_the_role(code):
    log, _own, ctx = built(error=code)

    with pytest.raises(AssumeRoleError) as raised:
        ctx.aws_for(INVENTORY.target("payment-eu", "ecs"), job())

    assert isinstance(raised.value, PermanentJobError) and ROLE in str(raised.value) and code in str(raised.value)
    assert sum(1 for name, _ in log.calls if name == "sts.assume_role") == 1


@pytest.mark.parametrize("code", ["Throttling", "InternalFailure"])
def test_sts_throttling_or_failing_is_transient(code):
    _log, _own, ctx = built(error=code)

    with pytest.raises(AssumeRoleThrottledError) as raised:
        ctx.aws_for(INVENTORY.target("payment-eu", "ecs"), job())

    assert not isinstance(raised.value, PermanentJobError)
