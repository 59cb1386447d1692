"""Slack credentials: from Secrets Manager on AWS (Powertools parameters, cached), from the environment locally.

The secret holds JSON `{"signing_secret": "...", "bot_token": "xoxb-..."}` (see infra/aws/slack_secret.py), and
`"jenkins_user"`, `"jenkins_api_token"` when the inventory has Jenkins jobs.
Values are `SecretStr`: they never reach a log line or a repr.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from shared.errors import SettingsError

#: Seconds Powertools keeps the secret before asking Secrets Manager again.
SECRET_MAX_AGE_S = 300


class SlackSecrets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    signing_secret: SecretStr | None = None
    bot_token: SecretStr | None = None
    #: /ops-build: the Jenkins user and its API token. Only the worker reads them.
    jenkins_user: str | None = None
    jenkins_api_token: SecretStr | None = None

    @field_validator("signing_secret", "bot_token", "jenkins_user", "jenkins_api_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value in ("", None) else value


#: Keys for the one client made before a SnapStart snapshot, only to load botocore's data into the Session.
_PLACEHOLDER_KEYS = {"aws_access_key_id": "before-snapshot", "aws_secret_access_key": "before-snapshot"}


def secrets_session() -> Any:
    """A boto3 Session to keep for the sandbox's life: it caches botocore's parsed service models and endpoint
    rules, which cost ~75 ms per new Session (a client from a kept one: ~2 ms; bench/ section 1e)."""
    import boto3

    return boto3.session.Session()


def secrets_client(region: str, *, endpoint_url: str | None = None, session: Any = None, **keys: str) -> Any:
    """Bounded like every call that may sit in front of a Slack request. Loads the Powertools parameters
    utility too (it imports boto3 anyway), so whoever builds the client at init pays for both there."""
    import aws_lambda_powertools.utilities.parameters  # noqa: F401
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
    session = session or secrets_session()
    return session.client("secretsmanager", region_name=region, endpoint_url=endpoint_url, config=config, **keys)


def prime_session(session: Any, region: str, *, endpoint_url: str | None = None) -> None:
    """Load into `session` what a Secrets Manager client needs, without resolving credentials: for a SnapStart
    snapshot, where credentials would be stale after a restore (SnapStart: redo what is unique or time-bound).

    The client is made with placeholder keys (botocore then leaves the Session's credentials unresolved) and
    dropped; a client made from `session` after the restore resolves real ones and costs a few ms.
    """
    secrets_client(region, endpoint_url=endpoint_url, session=session, **_PLACEHOLDER_KEYS)


def load_slack_secrets(secret_id: str, *, client: Any, max_age: int = SECRET_MAX_AGE_S) -> SlackSecrets:
    """Read the secret (cached `max_age` seconds), or raise `SettingsError` saying why not (never the value)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    try:
        value = SecretsProvider(boto3_client=client).get(secret_id, transform="json", max_age=max_age)
        return SlackSecrets.model_validate(value)
    except (GetParameterError, TransformParameterError, ValidationError) as exc:
        raise SettingsError(f"cannot read the Slack secret {secret_id}: {type(exc).__name__}") from None
