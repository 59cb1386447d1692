"""The one place where the worker's clients are built (tests pass their own)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from shared.settings import WorkerSettings
from worker_function.slack_errors import ShortRateLimitRetryHandler
from worker_function.slack_http import PooledWebClient

#: AWS calls from the worker: bounded, with botocore's standard retry mode for throttling. For reads and the
#: worker's own store, whose writes are conditional or idempotent, so a resend changes nothing.
AWS_MAX_ATTEMPTS = 3
AWS_CONFIG = Config(
    connect_timeout=3, read_timeout=20, retries={"total_max_attempts": AWS_MAX_ATTEMPTS, "mode": "standard"}
)

#: The call that makes a side effect (UpdateService, RebootInstances, StartBuild, StopBuild): sent once by
#: the SDK. botocore would resend it after a lost answer (a 5xx, a reset, a read timeout) below the effect
#: door's intent check, and the target would act twice; retrying is the door's job, and it reconciles first.
AWS_ONCE_CONFIG = AWS_CONFIG.merge(Config(retries={"total_max_attempts": 1, "mode": "standard"}))

#: Slack HTTP timeout in seconds; retries are added on top by the handlers below.
SLACK_TIMEOUT = 10


#: Slack methods that post a message: resent after a lost answer, the message would be there twice.
POSTING_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage"})


def _posts(url: str) -> bool:
    """A Web API method that posts, or a response_url (any URL outside `/api/`: each use posts or replaces)."""
    path = urlsplit(url).path
    if "/api/" not in path:
        return True
    return path.rpartition("/api/")[2] in POSTING_METHODS


class NotForPosts(RetryHandler):
    """`inner`, except that a post is never resent after a connection error or a 5xx: Slack may have taken it
    and only its answer was lost. Retrying a post is the job's (its reply intent makes the resend replace the
    copy that may be there); a 429 (Slack did not take it) is still retried by `RateLimitErrorRetryHandler`."""

    def __init__(self, inner: RetryHandler) -> None:
        super().__init__(max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator)
        self.inner = inner

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, error: Any = None
    ) -> bool:
        if _posts(request.url):
            return False
        return self.inner._can_retry(state=state, request=request, response=response, error=error)


def slack_retry_handlers(max_retries: int) -> list[RetryHandler]:
    """slack_sdk retries only connection errors by default; 429 and 500/503 are added here with bounded counts
    (platform-facts: slack_sdk retries). A 429 is waited for only when its Retry-After is short: a longer one
    defers the queue message instead (`slack_errors`), so a rate limit is paced, not failed. A post is resent
    only after a 429 (`NotForPosts`): after a connection error or a 5xx Slack may have made it."""
    return [
        NotForPosts(ConnectionErrorRetryHandler(max_retry_count=max_retries)),
        ShortRateLimitRetryHandler(),
        NotForPosts(ServerErrorRetryHandler(max_retry_count=max_retries)),
    ]


def slack_web_client(
    settings: WorkerSettings, token: str | None, *, token_source: Callable[[], str | None] | None = None
) -> PooledWebClient:
    """The Web API client; its calls reuse kept-alive connections (`slack_http`). Without `token`, `token_source`
    gives it on the first Web API call."""
    return PooledWebClient(
        token=token,
        token_source=token_source,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        retry_handlers=slack_retry_handlers(settings.slack_max_retries),
    )


def aws_config(*, once: bool, overrides: Config | None = None) -> Config:
    """`AWS_ONCE_CONFIG` or `AWS_CONFIG`, with a test's `overrides` (timeouts) merged; attempts stay as they are."""
    config = AWS_ONCE_CONFIG if once else AWS_CONFIG
    if overrides is None:
        return config
    attempts = 1 if once else AWS_MAX_ATTEMPTS
    return config.merge(overrides).merge(Config(retries={"total_max_attempts": attempts, "mode": "standard"}))


class _ServicesOnDisk(Sequence[str]):
    """The services a `Loader` has data of (`type_name`): `in` looks at one service's directory; listing them
    all (only an unknown service's error message does) scans every one, as botocore does."""

    def __init__(self, loader: Loader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name

    def __contains__(self, service: object) -> bool:
        if not isinstance(service, str) or not service or os.sep in service or service.startswith("."):
            return False
        try:
            return bool(self._loader.list_api_versions(service, self._type_name))
        except DataNotFoundError:
            return False

    def _all(self) -> list[str]:
        return list(Loader.list_available_services(self._loader, self._type_name))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())


class KnownServicesLoader(Loader):
    """botocore's data loader, minus the scan it makes before loading any model: to check that the service is
    known, `load_service_model` lists every service directory of the SDK (~450, each listed and probed) for each
    kind of data (the model, the endpoint rules). Here the check looks at the one service's directory; the data
    loaded, and the errors for an unknown service, are botocore's own."""

    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        return _ServicesOnDisk(self, type_name)


def aws_session(botocore_session: Any = None) -> Any:
    """A boto3 Session (on `botocore_session`, else a new one) whose data loader is `KnownServicesLoader`, searching
    the paths botocore's own would (`AWS_DATA_PATH`, ~/.aws/models, the SDK's data, boto3's)."""
    core = botocore_session or botocore.session.Session()
    data_path = core.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    core.register_component("data_loader", KnownServicesLoader(extra_search_paths=extra))
    return boto3.session.Session(botocore_session=core)


class Clients(Protocol):
    """boto3 clients in one account and region: the worker's own (`AwsClients`) or a target's
    (`worker_function.accounts.TargetClients`)."""

    @property
    def region(self) -> str: ...

    def client(self, service: str) -> Any: ...

    def once(self, service: str) -> Any:
        """The client for a call that makes a side effect: one attempt, no SDK retry (`AWS_ONCE_CONFIG`)."""
        ...

    @property
    def ecs(self) -> Any: ...


@dataclass
class AwsClients:
    """boto3 clients, created on first use so a job only pays for the services it calls, all from one Session:
    the SDK's data (endpoints, retry modes, service models) is read once per container, not once per client."""

    settings: WorkerSettings
    session: Any = None
    #: Merged into both configs (a test shortens the timeouts); the number of attempts is not changed by it.
    overrides: Config | None = None
    _cache: dict[tuple[str, bool], Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self._client(service, once=False)

    def once(self, service: str) -> Any:
        return self._client(service, once=True)

    def _client(self, service: str, *, once: bool) -> Any:
        if (service, once) not in self._cache:
            if self.session is None:  # one Session for all: the SDK's data is read once per container
                self.session = aws_session()
            self._cache[service, once] = self.session.client(
                service,
                region_name=self.settings.aws_region,
                endpoint_url=self.settings.service_endpoints.get(service, self.settings.aws_endpoint_url),
                config=aws_config(once=once, overrides=self.overrides),
            )
        return self._cache[service, once]

    @property
    def ecs(self) -> Any:
        return self.client("ecs")

    @property
    def region(self) -> str:
        return self.settings.aws_region

    def lazy(self, service: str) -> LazyClient:
        """The service's client, made on its first call (for clients only some jobs call)."""
        return LazyClient(self, service)


class LazyClient:
    """Stands for `clients.client(service)` and makes it on the first attribute read: a job that never calls the
    service never pays for its client (the SDK's model of it, its endpoint rules)."""

    def __init__(self, clients: Clients, service: str) -> None:
        self._clients = clients
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clients.client(self._service), name)


#: Jenkins HTTP timeout in seconds (python-jenkins passes it to requests).
JENKINS_TIMEOUT = 15


def jenkins_client(settings: WorkerSettings) -> Any:
    """python-jenkins with the user's API token; it fetches and sends the CSRF crumb itself. Imported here,
    on first use, so jobs that never call Jenkins do not pay for it."""
    import jenkins

    if not settings.jenkins_url:
        raise ValueError("JENKINS_URL is not set")
    token = settings.jenkins_api_token.get_secret_value() if settings.jenkins_api_token else None
    return jenkins.Jenkins(
        settings.jenkins_url, username=settings.jenkins_user, password=token, timeout=JENKINS_TIMEOUT
    )
