"""A minimal AWS JSON-protocol client for the ack path: one signed HTTPS POST per call, nothing else loaded.

The ack makes two AWS calls: SQS SendMessage per request, and Secrets Manager GetSecretValue at init or after a
SnapStart restore (its signing secret). boto3 would cost it ~175 ms of imports and ~75 ms of session and client
construction (endpoint rules, service models) in every cold start, more than the rest of the ack together
(bench/results/results.md, sections 1b and 1d); Bolt's own Lambda adapter pays the same for its lazy listeners.
This module signs with Signature Version 4 (tests compare every signature with botocore's `SigV4Auth`) over
`http.client`, bounded by a connect and a read deadline.

Credentials are resolved like botocore's default chain does on Lambda, at the first call and again
before they expire: the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
else the container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with
`AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`), which is what Lambda provides to SnapStart functions
(docs.aws.amazon.com/lambda/latest/dg/snapstart-activate.html#snapstart-credentials).

Under moto's in-process mock (`moto.mock_aws`, which intercepts botocore's requests only) a client with no
endpoint_url sends its calls through botocore instead, so a test of the ack sees its SendMessage and its secret in
moto; with an endpoint_url (moto in server mode, the project's own tests) it speaks HTTP itself, as on Lambda.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

#: Container credentials are fetched again this long before they expire (botocore uses 15/10 minutes).
REFRESH_MARGIN_S = 300


class AwsCallError(Exception):
    """An AWS call that did not succeed. `maybe_sent`: the request may have reached AWS (a read timeout or a
    connection lost after sending), so its effect may have happened; otherwise it certainly did not."""

    def __init__(self, message: str, *, code: str = "", status: int = 0, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.maybe_sent = maybe_sent


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None
    #: Epoch seconds after which they are no longer valid; None: they do not expire (static keys).
    expires_at: float | None = None


def sign_v4(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    region: str,
    credentials: Credentials,
    now: datetime,
) -> dict[str, str]:
    """The request's headers with `X-Amz-Date`, `X-Amz-Security-Token` (if any) and `Authorization` added.

    Signature Version 4 (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html): every given
    header and `host` are signed; the path is used as given (the JSON protocol always posts to `/`).
    """
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            parts.query,
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = dict(headers)
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _open(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout)
    return http.client.HTTPConnection(parts.netloc, timeout=timeout)


def credentials_from_environment(environ: Mapping[str, str] | None = None, *, timeout: float = 1.0) -> Credentials:
    """The credentials Lambda gives the function: static keys in the environment, else the container endpoint."""
    env = os.environ if environ is None else environ
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN") or None)
    uri = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not uri:
        raise AwsCallError(
            "no AWS credentials: neither AWS_ACCESS_KEY_ID nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set"
        )
    token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    parts = urlsplit(uri)
    connection = _open(uri, timeout)
    try:
        connection.request(
            "GET",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            headers=({"Authorization": token} if token else {}),
        )
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise AwsCallError(f"container credentials endpoint unreachable: {type(exc).__name__}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise AwsCallError(f"container credentials endpoint answered {response.status}", status=response.status)
    data = json.loads(payload)
    expires_at = None
    if data.get("Expiration"):
        expires_at = datetime.fromisoformat(data["Expiration"].replace("Z", "+00:00")).timestamp()
    return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token"), expires_at)


class CachedCredentials:
    """Credentials resolved at the first call and again shortly before they expire; one per sandbox, shared by
    its clients (so a SnapStart restore asks the container endpoint once, not once per client)."""

    def __init__(
        self,
        resolve: Callable[[], Credentials] = credentials_from_environment,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._resolve = resolve
        self._clock = clock
        self._credentials: Credentials | None = None

    def __call__(self) -> Credentials:
        creds = self._credentials
        if creds is None or (creds.expires_at is not None and creds.expires_at - self._clock() < REFRESH_MARGIN_S):
            creds = self._credentials = self._resolve()
        return creds


def in_process_mock_active() -> bool:
    """Whether moto's in-process mock (`moto.mock_aws`) is started in this process; moto is never imported here."""
    models = sys.modules.get("moto.core.models")
    if models is None:
        return False
    mock = getattr(models, "MockAWS", None)
    stubber = getattr(models, "botocore_stubber", None)
    return bool(getattr(mock, "_nested_count", 0) or getattr(stubber, "enabled", False))


class AwsJsonClient:
    """Calls one AWS service over its JSON protocol (`X-Amz-Target: <prefix>.<Operation>`), one attempt each.

    One keep-alive connection is reused between calls (a Lambda sandbox handles one request at a time) and
    opened again when the service closed it. Calls from several threads are serialised on it by a lock.
    """

    def __init__(
        self,
        service: str,
        *,
        target_prefix: str,
        json_version: str,
        region: str,
        endpoint_url: str | None = None,
        connect_timeout: float = 0.5,
        read_timeout: float = 1.0,
        credentials: Callable[[], Credentials] = credentials_from_environment,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.region = region
        self.endpoint_url = (endpoint_url or f"https://{service}.{region}.amazonaws.com").rstrip("/") + "/"
        #: No endpoint given: AWS itself, or moto's in-process mock when one is active at the call.
        self._default_endpoint = endpoint_url is None
        self._botocore_client: Any = None
        self._target_prefix = target_prefix
        self._content_type = f"application/x-amz-json-{json_version}"
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._credentials = (
            credentials if isinstance(credentials, CachedCredentials) else CachedCredentials(credentials, clock=clock)
        )
        self._clock = clock
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def credentials(self) -> Credentials:
        """Cached credentials, resolved again shortly before they expire."""
        return self._credentials()

    def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The operation's JSON result, or `AwsCallError` with AWS's error code or whether it may have been sent."""
        if self._default_endpoint and in_process_mock_active():
            return self._call_through_botocore(operation, payload)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_v4(
            method="POST",
            url=self.endpoint_url,
            headers={"Content-Type": self._content_type, "X-Amz-Target": f"{self._target_prefix}.{operation}"},
            body=body,
            service=self.service,
            region=self.region,
            credentials=self.credentials(),
            now=datetime.fromtimestamp(self._clock(), UTC),
        )
        with self._lock:
            status, data = self._post(body, headers)
        try:
            result: dict[str, Any] = json.loads(data) if data else {}
        except ValueError:
            result = {}
        if status == 200:
            return result
        code = str(result.get("__type", "")).rpartition("#")[2] or f"HTTP{status}"
        message = result.get("message") or result.get("Message") or ""
        raise AwsCallError(f"{operation}: {code}: {message}".rstrip(": "), code=code, status=status)

    def _call_through_botocore(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The call made by a boto3 client, which moto's in-process mock answers (boto3 is loaded only then)."""
        import boto3
        from botocore import xform_name
        from botocore.exceptions import ClientError

        if self._botocore_client is None:
            creds = self.credentials()
            session: Any = boto3.session.Session()
            self._botocore_client = session.client(
                self.service,
                region_name=self.region,
                aws_access_key_id=creds.access_key,
                aws_secret_access_key=creds.secret_key,
                aws_session_token=creds.token,
            )
        try:
            result: dict[str, Any] = getattr(self._botocore_client, xform_name(operation))(**payload)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            code = str(error.get("Code", "")) or f"HTTP{status}"
            message = f"{operation}: {code}: {error.get('Message', '')}".rstrip(": ")
            raise AwsCallError(message, code=code, status=status) from None
        result.pop("ResponseMetadata", None)
        return result

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):
            fresh = self._connection is None
            if self._connection is None:
                self._connection = _open(self.endpoint_url, self._connect_timeout)
            connection = self._connection
            sent = False
            try:
                if connection.sock is None:
                    connection.connect()
                connection.sock.settimeout(self._read_timeout)
                connection.request("POST", "/", body=body, headers=headers)
                sent = True
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                # A kept-alive connection the service had closed: sent nowhere, so one new connection is safe.
                if not fresh and attempt == 1:
                    continue
                raise AwsCallError(f"connection lost: {type(exc).__name__}", maybe_sent=sent) from None
            except TimeoutError as exc:
                self.close()
                raise AwsCallError(f"timed out: {type(exc).__name__}", maybe_sent=sent) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise AwsCallError(f"could not connect: {type(exc).__name__}: {exc}", maybe_sent=sent) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def prime(self) -> None:
        """Look the endpoint's host up once, connecting nowhere, so the code of a first lookup (Python's idna codec,
        the C library's resolver configuration) is loaded: before a SnapStart snapshot, where no credentials and
        no connection may be made, this is what a restore's first connection would otherwise load (~5 ms)."""
        parts = urlsplit(self.endpoint_url)
        with contextlib.suppress(OSError, UnicodeError):  # no answer is kept: the first connection looks again
            socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)

    def warm(self) -> bool:
        """Resolve the credentials and open the connection (TCP and TLS) ahead of the first call, e.g. right after
        a SnapStart restore; False if either failed (the first call then tries again)."""
        if self._default_endpoint and in_process_mock_active():
            return True  # nothing to open: botocore makes the calls, and moto answers them in-process
        try:
            self.credentials()
            with self._lock:
                if self._connection is None:
                    self._connection = _open(self.endpoint_url, self._connect_timeout)
                if self._connection.sock is None:
                    self._connection.connect()
        except (AwsCallError, OSError, http.client.HTTPException, ValueError, KeyError):
            self.close()
            return False
        return True


class SqsSendClient:
    """SQS `SendMessage` with boto3's keyword arguments and result, so `SqsJobQueue` takes either client."""

    def __init__(self, region: str, *, endpoint_url: str | None = None, **options: Any) -> None:
        self._client = AwsJsonClient(
            "sqs", target_prefix="AmazonSQS", json_version="1.0", region=region, endpoint_url=endpoint_url, **options
        )

    def send_message(self, **params: Any) -> dict[str, Any]:
        return self._client.call("SendMessage", params)

    def close(self) -> None:
        self._client.close()

    def prime(self) -> None:
        self._client.prime()

    def warm(self) -> bool:
        return self._client.warm()


#: Secrets Manager errors worth a second attempt of a read (throttling, a service-side failure); a missing secret,
#: a denied access or a bad request is answered the same the second time.
RETRYABLE_SECRET_ERRORS = frozenset({"ThrottlingException", "InternalServiceError", "RequestTimeout"})


class SecretsManagerClient:
    """Secrets Manager `GetSecretValue` with boto3's keyword arguments and result; a read, so tried twice when the
    first attempt failed for a reason a second may not (a timeout, a lost connection, throttling, a 5xx)."""

    def __init__(self, region: str, *, endpoint_url: str | None = None, attempts: int = 2, **options: Any) -> None:
        self._client = AwsJsonClient(
            "secretsmanager",
            target_prefix="secretsmanager",
            json_version="1.1",
            region=region,
            endpoint_url=endpoint_url,
            **options,
        )
        self._attempts = attempts

    def get_secret_value(self, **params: Any) -> dict[str, Any]:
        for attempt in range(1, self._attempts + 1):
            try:
                return self._client.call("GetSecretValue", params)
            except AwsCallError as exc:
                transient = not exc.status or exc.status >= 500 or exc.code in RETRYABLE_SECRET_ERRORS
                if attempt == self._attempts or not transient:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._client.close()
