"""The AWS clients of a target: in its own account (STS AssumeRole of the role the inventory names) and region,
or the worker's own when it names neither.

    clients = accounts.for_target(inventory.target(name, "restartable"), job.job_id)
    clients.client("ecs").update_service(...)

Operations do not call this directly: `OperationContext.aws_for(target, job)` does (one door for every call an
operation makes on a target). A target naming neither a role nor another region gets the worker's own clients
(`AwsClients`, the very object the worker uses): no AssumeRole call, no extra client.

The RoleSessionName carries the job id, so CloudTrail in the target's account shows which job made each call.
Credentials are cached per role and job until `REFRESH_MARGIN_S` before they expire: a long job's later steps
(continuations) reuse them; another job assumes the role anew under its own name (cached per role alone, every
later job's calls would be recorded under the first job's session name).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.inventory_entries import Target
from shared.settings import WorkerSettings
from worker_function.clients import AwsClients, Clients, aws_config, aws_session
from worker_function.errors import AssumeRoleError, AssumeRoleThrottledError

#: How long before their expiry cached credentials are replaced.
REFRESH_MARGIN_S = 300
#: How long assumed credentials last: STS allows 900 s at least, and 1 h at most for role chaining (the worker
#: runs as its Lambda role's session, so assuming another role is chaining) and a role's default MaxSessionDuration.
SESSION_DURATION_S = 3600
#: At most this many (role, job) credentials are kept; the oldest go first.
MAX_CACHED = 128
#: STS answers that no retry can fix. Anything else (Throttling, 5xx, timeouts) is transient.
PERMANENT_STS_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "RegionDisabledException", "ValidationError", "InvalidClientTokenId"}
)


def session_name(job_id: str) -> str:
    """`opsbot-<job id>`: within STS's 64 characters of `[\\w+=,.@-]`."""
    safe = "".join(c for c in job_id if c.isalnum() or c in "+=,.@-_")
    return f"opsbot-{safe}"[:64]


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires_at: float


@dataclass
class TargetClients:
    """boto3 clients in one account and region, created on first use (the same `client()` as `AwsClients`)."""

    session: Any
    region: str
    endpoints: dict[str, str]
    endpoint_url: str | None
    credentials: _Credentials | None = None
    overrides: Any = None
    _cache: dict[tuple[str, bool], Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self._client(service, once=False)

    def once(self, service: str) -> Any:
        return self._client(service, once=True)

    def _client(self, service: str, *, once: bool) -> Any:
        if (service, once) not in self._cache:
            keys: dict[str, str] = {}
            if self.credentials is not None:
                keys = {
                    "aws_access_key_id": self.credentials.access_key,
                    "aws_secret_access_key": self.credentials.secret_key,
                    "aws_session_token": self.credentials.token,
                }
            self._cache[service, once] = self.session.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoints.get(service, self.endpoint_url),
                config=aws_config(once=once, overrides=self.overrides),
                **keys,
            )
        return self._cache[service, once]

    @property
    def ecs(self) -> Any:
        return self.client("ecs")


class TargetAccounts:
    """Gives each target the clients of its account and region; built once per cold start, like `AwsClients`."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        session: Any = None,
        own: AwsClients | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._session = session or (own.session if own is not None else None) or aws_session()
        #: The worker's own clients, for targets in its account and region.
        self.own = own or AwsClients(settings, session=self._session)
        self._clock = clock
        self._assumed: OrderedDict[tuple[str, str], TargetClients] = OrderedDict()
        self._own: dict[str, TargetClients] = {}

    def for_target(self, target: Target, job_id: str) -> Clients:
        """The clients for `target` on behalf of job `job_id` (raises `AssumeRoleError` when the role cannot be
        assumed, `AssumeRoleThrottledError` when STS throttles or fails)."""
        region = target.region or self._settings.aws_region
        if target.role_arn is None and region == self._settings.aws_region:
            return self.own
        if target.role_arn is None:
            if region not in self._own:
                self._own[region] = self._clients(region, None)
            return self._own[region]
        key = (target.role_arn, job_id)
        cached = self._assumed.get(key)
        if cached is None or self._expiring(cached) or cached.region != region:
            cached = self._clients(region, self._assume(target.role_arn, job_id, region))
            self._assumed[key] = cached
            while len(self._assumed) > MAX_CACHED:
                self._assumed.popitem(last=False)
        self._assumed.move_to_end(key)
        return cached

    def _expiring(self, clients: TargetClients) -> bool:
        assert clients.credentials is not None
        return clients.credentials.expires_at - self._clock() <= REFRESH_MARGIN_S

    def _clients(self, region: str, credentials: _Credentials | None) -> TargetClients:
        return TargetClients(
            session=self._session,
            region=region,
            endpoints=self._settings.service_endpoints,
            endpoint_url=self._settings.aws_endpoint_url,
            credentials=credentials,
            overrides=self.own.overrides,
        )

    def _sts(self, region: str) -> Any:
        """STS in the target's region: it refuses a region not enabled for the account (RegionDisabledException)
        before any operation is tried there."""
        if region not in self._own:
            self._own[region] = self._clients(region, None)
        return self._own[region].client("sts")

    def _assume(self, role_arn: str, job_id: str, region: str) -> _Credentials:
        try:
            answer = self._sts(region).assume_role(
                RoleArn=role_arn, RoleSessionName=session_name(job_id), DurationSeconds=SESSION_DURATION_S
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, text = str(error.get("Code", "")), str(error.get("Message") or "")
            if code in PERMANENT_STS_CODES:
                why = "the region is not enabled" if code == "RegionDisabledException" else text or code
                raise AssumeRoleError(f"cannot assume {role_arn} (region {region}): {code}: {why}") from exc
            raise AssumeRoleThrottledError(f"AssumeRole of {role_arn} failed ({code}); retrying") from exc
        except BotoCoreError as exc:  # endpoint unreachable, read timeout after botocore's own retries
            raise AssumeRoleThrottledError(f"AssumeRole of {role_arn} failed ({exc}); retrying") from exc
        found = answer["Credentials"]
        return _Credentials(
            access_key=found["AccessKeyId"],
            secret_key=found["SecretAccessKey"],
            token=found["SessionToken"],
            expires_at=found["Expiration"].timestamp(),
        )
