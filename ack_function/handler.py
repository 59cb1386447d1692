"""Lambda entry point of the ack function (API Gateway HTTP/REST API and Function URL events).

Everything is built at init (and captured by SnapStart), not on the first request. Under SnapStart
the init runs once at publish time, so what must not be shared or frozen is redone after restore:
new SQS and Secrets Manager clients (their connections and credentials would be stale) and the signing
secret, read from Secrets Manager then (it may have been set after the deploy). Neither client resolves
credentials or connects when it is made, so the snapshot holds no credentials and no connection; what a first
connection loads (the host lookup's code) is loaded at init, so the restore does not pay it; so is every command
(an on-demand cold start imports only the commands its requests name).

The ack loads neither the AWS SDK nor Bolt's Lambda adapter: SendMessage and GetSecretValue go through
`shared.aws_json` (SigV4 over http.client) and events through `ack_function.adapter`. Reading the secret with
boto3 and Powertools parameters instead cost the deployed ack over a third of its cold start (issue 15; the
figures are in the README's "Benchmarks").
"""

from __future__ import annotations

import binascii
import gc
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from ack_function.adapter import SlackRequestHandler
from ack_function.app import build_app
from ack_function.payloads import PAYLOADS
from ack_function.pickers import PickClick
from shared.aws_json import (
    CachedCredentials,
    Credentials,
    SecretsManagerClient,
    SqsSendClient,
    credentials_from_environment,
)
from shared.commands.registry import prime as prime_commands
from shared.errors import SettingsError
from shared.inventory import Inventory, InventoryError, load_inventory
from shared.observability import ACK_LATENCY, function_logger, function_metrics, publish
from shared.queue import SqsJobQueue
from shared.secrets import read_slack_secrets
from shared.settings import AckSettings

logger = function_logger("opsbot-ack", "ack_function")
metrics = function_metrics("opsbot-ack")

#: Slack's payloads are a few KB (a block_actions payload with view state stays well under this);
#: anything larger is refused before it is decoded, parsed or verified.
MAX_BODY_BYTES = 64 * 1024

#: While no signing secret could be read, look again at most this often (every request is refused meanwhile).
SECRET_RETRY_S = 10.0
#: Bounds on each of the (at most two) attempts of the secret's read: at init, or after a SnapStart restore.
SECRET_CONNECT_TIMEOUT_S = 0.5
SECRET_READ_TIMEOUT_S = 1.0


class AckFunction:
    """The ack's state across invocations: the queue, and the Bolt handler once a signing secret is known."""

    def __init__(self, settings: AckSettings, *, credentials: Callable[[], Credentials] | None = None) -> None:
        self.settings = settings
        self._credentials = credentials  # None: Lambda's (the environment or the container endpoint)
        self.handler: SlackRequestHandler | None = None
        self.queue: SqsJobQueue | None = None
        self._sqs: SqsSendClient | None = None
        self._secrets: SecretsManagerClient | None = None
        self._secret_checked_at = float("-inf")
        self.inventory: Inventory | None = None
        self._inventory_error: str | None = None
        if settings.inventory_path:
            try:
                self.inventory = load_inventory(settings.inventory_path)
            except InventoryError as exc:
                self._inventory_error = str(exc)

    def connect(self) -> None:
        """(Re)create the clients: at init, and after a SnapStart restore (new connections, fresh credentials).
        Neither resolves credentials nor connects before its first call (or warm())."""
        s = self.settings
        for client in (self._sqs, self._secrets):
            if client is not None:
                client.close()
        credentials = CachedCredentials(self._credentials or credentials_from_environment)  # one lookup for both
        self._sqs = SqsSendClient(
            s.aws_region,
            endpoint_url=s.aws_endpoint_url,
            connect_timeout=s.enqueue_connect_timeout_s,
            read_timeout=s.enqueue_read_timeout_s,
            credentials=credentials,
        )
        self.queue = SqsJobQueue(s.jobs_queue_url, client=self._sqs)
        self.handler = None
        self._secret_checked_at = float("-inf")
        self._secrets = None
        if s.slack_signing_secret is None and s.secret_arn:
            self._secrets = SecretsManagerClient(
                s.aws_region,
                endpoint_url=s.aws_endpoint_url,
                connect_timeout=SECRET_CONNECT_TIMEOUT_S,
                read_timeout=SECRET_READ_TIMEOUT_S,
                credentials=credentials,
            )

    def load_signing_secret(self) -> None:
        """Build the Bolt app with the signing secret; without one it stays None and every request is refused."""
        self._secret_checked_at = time.monotonic()
        if self._inventory_error is not None:  # fail closed: a policy that does not load allows nothing
            logger.error("the inventory (policy) is invalid, refusing every request: %s", self._inventory_error)
            return
        s = self.settings
        secret = s.slack_signing_secret
        if secret is None and s.secret_arn:
            assert self._secrets is not None, "connect() first"
            try:
                secret = read_slack_secrets(s.secret_arn, client=self._secrets).signing_secret
            except SettingsError as exc:
                logger.error("no signing secret, refusing every request: %s", exc)
                return
        if secret is None:
            logger.error("the Slack secret has no signing_secret yet, refusing every request")
            return
        assert self.queue is not None
        self.handler = SlackRequestHandler(build_app(secret.get_secret_value(), self.queue, self.inventory))

    def init(self) -> AckFunction:
        self.connect()
        if self.settings.initialization_type == "snap-start":  # a snapshot reads nothing: the restore does
            if self._sqs is not None:
                self._sqs.prime()  # but what the restore's first connection would load is loaded here
            prime()  # and every command and payload model (a cold start builds only those its requests use)
            # Everything made so far is kept for good: frozen out of the collector, a restored copy's collections
            # never walk (so never read or copy) the snapshot's pages for it.
            gc.collect()
            gc.freeze()
        else:
            self.warm()
            self.load_signing_secret()
        return self

    def after_restore(self) -> None:
        self.connect()
        self.warm()
        self.load_signing_secret()

    def warm(self) -> None:
        """Credentials and the connection to SQS ready before the first request (never in a snapshot: both
        would be stale after a restore)."""
        if self._sqs is not None and not self._sqs.warm():
            logger.warning("could not open the connection to SQS ahead of the first request")

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self.handler is None and time.monotonic() - self._secret_checked_at >= SECRET_RETRY_S:
            self.load_signing_secret()
        return handle(self.handler, event, context)


def prime() -> None:
    """Before a SnapStart snapshot: import every command and build every model a request may read (an on-demand
    cold start does it for the ones its requests use, when they use them)."""
    prime_commands()
    models: list[type[BaseModel]] = [*PAYLOADS, PickClick]
    for model in models:
        model.model_rebuild()


def _init() -> AckFunction | None:
    try:
        settings = AckSettings.from_env()
    except SettingsError as exc:
        # Fail closed: without settings every request is refused; verification is never skipped.
        logger.error("opsbot ack is misconfigured, refusing every request: %s", exc)
        return None
    function = AckFunction(settings).init()
    try:
        from snapshot_restore_py import register_after_restore  # in the Lambda runtime with SnapStart
    except ImportError:
        return function
    register_after_restore(function.after_restore)
    return function


_function = _init()


def handle(handler: SlackRequestHandler | None, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one API Gateway / Function URL event with the given Bolt handler (None: refuse it)."""
    if handler is None:
        return {"statusCode": 503, "body": "opsbot is misconfigured", "headers": {}}
    body = event.get("body") if isinstance(event, dict) else None
    if body is not None and not isinstance(body, str):  # found by fuzzing: `"body": true` crashed len()
        return {"statusCode": 400, "body": "malformed request", "headers": {}}
    if len(body or "") > MAX_BODY_BYTES * 4 // 3 + 4:  # base64 of MAX_BODY_BYTES at most
        return {"statusCode": 413, "body": "request too large", "headers": {}}
    try:
        response: dict[str, Any] = handler.handle(event, context)
    # Bolt parses the body before it verifies the signature: a form `payload=null` or `payload=[]` made it
    # raise AttributeError/TypeError (found by tests/unit/test_ack_fuzz.py), an unsigned request ending as
    # a Lambda error (502). Whatever the shape, an unreadable request is a 400.
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, binascii.Error) as exc:
        logger.warning("malformed request event: %s: %.200s", type(exc).__name__, exc)
        return {"statusCode": 400, "body": "malformed request", "headers": {}}
    if response["statusCode"] == 404:  # signed, but nothing opsbot handles (no command, no payload)
        return {"statusCode": 400, "body": "unsupported request", "headers": {}}
    return response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return _function(event, context) if _function else handle(None, event, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name=ACK_LATENCY, unit=MetricUnit.Milliseconds, value=elapsed_ms)
        publish(metrics)
