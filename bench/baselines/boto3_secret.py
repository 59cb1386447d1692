"""How the ack read its signing secret when unprimed, kept for the benchmark's "before" variants: a boto3
Session made at init and kept (primed before a SnapStart snapshot with placeholder keys, so botocore's parsed model
and endpoint rules are in the snapshot and no credentials are), a bounded Secrets Manager client from it, and the
read through Powertools parameters."""

from __future__ import annotations

from typing import Any

#: Keys for the one client made before a SnapStart snapshot, only to load botocore's data into the Session.
PLACEHOLDER_KEYS = {"aws_access_key_id": "before-snapshot", "aws_secret_access_key": "before-snapshot"}


def secrets_session() -> Any:
    """A boto3 Session to keep for the sandbox's life (~75 ms to make; a client from it ~2 ms)."""
    import boto3

    return boto3.session.Session()


def secrets_client(region: str, *, endpoint_url: str | None = None, session: Any = None, **keys: str) -> Any:
    """The ack's former client: 1 s connect, 2 s read, 2 attempts; loads Powertools parameters too."""
    import aws_lambda_powertools.utilities.parameters  # noqa: F401
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
    session = session or secrets_session()
    return session.client("secretsmanager", region_name=region, endpoint_url=endpoint_url, config=config, **keys)


def prime_session(session: Any, region: str, *, endpoint_url: str | None = None) -> None:
    """Load into `session` what a Secrets Manager client needs, without resolving credentials (for a snapshot)."""
    secrets_client(region, endpoint_url=endpoint_url, session=session, **PLACEHOLDER_KEYS)


class PowertoolsSecrets:
    """`get_secret_value` as `shared.secrets.read_slack_secrets` calls it, answered by Powertools' SecretsProvider
    over a boto3 client made from `session` at the first read (as the ack did it: after a restore, not before)."""

    def __init__(self, session: Any, region: str, *, endpoint_url: str | None = None) -> None:
        self._session = session
        self._region = region
        self._endpoint_url = endpoint_url
        self._client: Any = None

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        if self._client is None:
            self._client = secrets_client(self._region, endpoint_url=self._endpoint_url, session=self._session)
        return {"SecretString": SecretsProvider(boto3_client=self._client).get(SecretId, max_age=300)}

    def close(self) -> None:
        self._client = None
