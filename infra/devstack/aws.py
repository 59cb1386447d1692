"""AWS on the laptop: moto in server mode as a subprocess, and the resources opsbot needs in it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from infra.devstack._http import urlopen
from infra.devstack.errors import AwsEndpointError, MotoStartError
from infra.devstack.iam_policy import Denial
from infra.devstack.lifetime import PARENT_PID_ENV
from infra.devstack.moto_iam import DENIALS_ENV
from shared.deployment import (
    AUDIT,
    DLQ_RETENTION_SECONDS,
    IDEMPOTENCY,
    JOBS_RETENTION_SECONDS,
    LEASES,
    LOCAL_VISIBILITY_TIMEOUT_S,
    Table,
)
from shared.settings import AUDIT_TABLE, MAX_RECEIVE_COUNT

if TYPE_CHECKING:
    import boto3.session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_sqs import SQSClient


class Credentials(TypedDict):
    """Keyword arguments of boto3's `Session(...)` and `client(...)` for static credentials."""

    aws_access_key_id: str
    aws_secret_access_key: str


#: Fake credentials: moto accepts any, and explicit ones keep boto3 from looking for real ones.
FAKE_CREDENTIALS: Credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

JOBS_QUEUE = "opsbot-jobs"
JOBS_DLQ = "opsbot-jobs-dlq"
DEMO_CLUSTER = "opsbot-demo"
DEMO_SERVICES = ("payment", "checkout")
#: The image version of each demo task definition revision (revision 1 first); services run the last.
DEMO_IMAGE_VERSIONS = ("1.0.0", "1.1.0")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """`python -m moto.server` in a subprocess on 127.0.0.1; a context manager.

    `env` is added to the server's environment, e.g. {"MOTO_ECS_SERVICE_RUNNING": "2"}: moto reads
    it when a service is created and reports that many running tasks (rollout COMPLETED).

    The server runs as `python -m infra.devstack.moto_server`, which dies with this process (even on
    SIGKILL) and, with `sqs_fixes` (the default), first applies `infra.devstack.moto_sqs` (moto's SQS calls
    no longer slow down with the queue's depth).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        start_timeout_s: float = 20.0,
        sqs_fixes: bool = True,
    ):
        self.port = port or free_port()
        self._env = dict(env or {})
        self._sqs_fixes = sqs_fixes
        self._start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        #: Where the server appends each call it refused to a function's role (`infra.devstack.moto_iam`).
        self.denials_path = (
            self._env.get(DENIALS_ENV)
            or os.environ.get(DENIALS_ENV)
            or os.path.join(tempfile.mkdtemp(prefix="opsbot-iam-"), "denials.jsonl")
        )
        self._env[DENIALS_ENV] = self.denials_path
        # Lives as long as the subprocess writing to it; read back when it fails to start.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the subprocess and wait until it answers HTTP; raise `MotoStartError` otherwise."""
        if self._process is not None:
            return
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.devstack.moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                **self._env,
                PARENT_PID_ENV: str(os.getpid()),
                "OPSBOT_MOTO_SQS_FIXES": "1" if self._sqs_fixes else "0",
            },
            # Its own session: Ctrl-C in the terminal reaches only opsbot, which stops moto last.
            start_new_session=True,
        )
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise MotoStartError(f"moto server exited with {self._process.returncode}: {self._log_tail()}")
            if self.is_answering():
                return
            time.sleep(0.05)
        self.stop()
        raise MotoStartError(f"moto server did not answer on {self.endpoint_url} within {self._start_timeout_s:g} s")

    def is_answering(self) -> bool:
        """True when moto answers `GET /moto-api/` right now."""
        try:
            with urlopen(f"{self.endpoint_url}/moto-api/", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Terminate the subprocess (kill it after 5 s) and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._log.truncate(0)

    def denials(self, offset: int = 0) -> tuple[list[Denial], int]:
        """The calls refused to a function's role since byte `offset` of the log, and the offset after them."""
        try:
            with open(self.denials_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], offset
        complete = data[: data.rfind(b"\n") + 1]
        found = [Denial(**json.loads(line)) for line in complete.splitlines() if line.strip()]
        return found, offset + len(complete)

    def _log_tail(self, size: int = 2000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-size:]

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_endpoint(endpoint_url: str, *, timeout: float = 5.0) -> None:
    """Raise `AwsEndpointError` unless something answers HTTP at `endpoint_url` (any status will do)."""
    try:
        with urlopen(endpoint_url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AwsEndpointError(f"the AWS endpoint {endpoint_url} does not answer: {reason}") from None


_SDK_LOCK = threading.Lock()
_sdk_loader: Any = None
_clients: dict[tuple[Any, ...], Any] = {}


class _SearchPaths(list[str]):
    """The shared loader's search paths: each boto3 Session appends boto3's own data directory; once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def sdk_session(**kwargs: Any) -> boto3.session.Session:
    """A new boto3 Session (its own credentials, events and clients) whose SDK data (service models, endpoint
    rules, partitions) is read from disk once per process: a fresh Session otherwise parses megabytes of JSON for
    each service it makes a client of (hundreds of milliseconds each, seconds on a busy machine)."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _sdk_loader
    with _SDK_LOCK:
        if _sdk_loader is None:
            loader: Any = botocore.loaders.create_loader()
            loader._search_paths = _SearchPaths(loader.search_paths)
            _sdk_loader = loader
    core = botocore.session.Session()
    core.register_component("data_loader", _sdk_loader)
    return boto3.session.Session(botocore_session=core, **kwargs)


def aws_client(
    service: str,
    endpoint_url: str,
    region: str = "us-east-1",
    *,
    credentials: Mapping[str, str] | None = None,
    **config: Any,
) -> Any:
    """A boto3 client for moto with fake credentials (never the laptop's real ones), or with `credentials`
    (boto3's keyword arguments: a function's role, `infra.devstack.roles.RoleCredentials.client_kwargs()`).

    One client per (service, endpoint, region, credentials, config) and process, made once (clients are
    thread-safe): callers must not register event handlers on it."""
    from botocore.config import Config

    keys = credentials if credentials is not None else FAKE_CREDENTIALS
    key: tuple[Any, ...] = (service, endpoint_url, region, tuple(sorted(keys.items())), tuple(sorted(config.items())))
    try:
        return _clients[key]
    except KeyError:
        pass
    except TypeError:  # a config value that cannot be a key: a client of its own
        key = ()
    client = sdk_session().client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}, **config),
        **keys,
    )
    if key:
        with _SDK_LOCK:
            client = _clients.setdefault(key, client)
    return client


@dataclass(frozen=True)
class Queues:
    """The jobs queue and its dead-letter queue."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


@dataclass(frozen=True)
class Tables:
    """The worker's DynamoDB tables."""

    idempotency: str
    leases: str
    audit: str = AUDIT_TABLE


@dataclass(frozen=True)
class Provisioned:
    """Everything `provision` created."""

    queues: Queues
    tables: Tables
    ecs_cluster: str
    ecs_services: tuple[str, ...]

    @property
    def queue_url(self) -> str:
        return self.queues.queue_url

    @property
    def queue_arn(self) -> str:
        return self.queues.queue_arn

    @property
    def dlq_url(self) -> str:
        return self.queues.dlq_url


def provision_queues(
    sqs: SQSClient,
    *,
    name: str = JOBS_QUEUE,
    dlq_name: str | None = None,
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_S,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> Queues:
    """The jobs queue with a redrive policy to its DLQ after `max_receive_count` receives; retention periods as
    deployed (shared/deployment.py)."""
    dlq_url = sqs.create_queue(
        QueueName=dlq_name or f"{name}-dlq", Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(JOBS_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queues(queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


def create_table(dynamodb: DynamoDBClient, definition: Table, name: str | None = None) -> None:
    """The table `definition` describes (shared/deployment.py, as the CDK app deploys it), named `name` when
    given (tests use fresh names); one already there is kept."""
    table_name = name or definition.name
    keys = [(definition.key, "HASH")] + ([(definition.sort_key, "RANGE")] if definition.sort_key else [])
    schema: list[Any] = [{"AttributeName": k, "KeyType": t} for k, t in keys]
    names = [k for k, _ in keys]
    extra: dict[str, Any] = {}
    if definition.index is not None:
        index = definition.index
        names += [index.key, index.sort_key]
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    attributes: list[Any] = [{"AttributeName": n, "AttributeType": "S"} for n in dict.fromkeys(names)]
    try:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=schema,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": definition.ttl_attribute}
    )


def provision_tables(
    dynamodb: DynamoDBClient,
    *,
    idempotency: str = IDEMPOTENCY.name,
    leases: str = LEASES.name,
    audit: str = AUDIT.name,
) -> Tables:
    """The worker's tables as deployed (shared/deployment.py): idempotency records, leases with the registry of
    jobs in their index, the audit trail."""
    create_table(dynamodb, IDEMPOTENCY, idempotency)
    create_table(dynamodb, LEASES, leases)
    create_table(dynamodb, AUDIT, audit)
    return Tables(idempotency=idempotency, leases=leases, audit=audit)


def provision_demo_ecs(
    ecs: ECSClient, *, cluster: str = DEMO_CLUSTER, services: Sequence[str] = DEMO_SERVICES, desired_count: int = 2
) -> tuple[str, ...]:
    """An ECS cluster with one Fargate service per name, each on its own task definition family with two
    revisions (`payment:1` on image 1.0.0, `payment:2` on 1.1.0: `/ops-rollback payment` has one to go back to),
    running the latest."""
    ecs.create_cluster(clusterName=cluster)
    existing = {
        s["serviceName"]
        for s in ecs.describe_services(cluster=cluster, services=list(services))["services"]
        if s["status"] == "ACTIVE"
    }
    for service in services:
        if service in existing:
            continue
        for revision, version in enumerate(DEMO_IMAGE_VERSIONS, start=1):
            if not _has_task_definition(ecs, f"{service}:{revision}"):
                _register_demo_task_definition(ecs, service, version)
        ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=f"{service}:{len(DEMO_IMAGE_VERSIONS)}",
            desiredCount=desired_count,
            launchType="FARGATE",
        )
    return tuple(services)


def _has_task_definition(ecs: ECSClient, revision: str) -> bool:
    """Task definition families are account-wide: a second cluster reuses `payment:1` and `payment:2`."""
    from botocore.exceptions import ClientError

    try:
        ecs.describe_task_definition(taskDefinition=revision)
    except ClientError:
        return False
    return True


def _register_demo_task_definition(ecs: ECSClient, service: str, version: str) -> None:
    ecs.register_task_definition(
        family=service,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": service,
                "image": f"public.ecr.aws/opsbot-demo/{service}:{version}",
                "essential": True,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            }
        ],
    )


def provision(
    endpoint_url: str,
    region: str = "us-east-1",
    *,
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_S,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> Provisioned:
    """The jobs queue + DLQ, the worker's tables, and the demo ECS cluster `opsbot-demo` with
    services `payment` and `checkout`."""
    queues = provision_queues(
        aws_client("sqs", endpoint_url, region),
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )
    tables = provision_tables(aws_client("dynamodb", endpoint_url, region))
    services = provision_demo_ecs(aws_client("ecs", endpoint_url, region))
    return Provisioned(queues=queues, tables=tables, ecs_cluster=DEMO_CLUSTER, ecs_services=services)
