"""Slack credentials: from Secrets Manager on AWS, from the environment locally.

The ack reads its signing secret with `read_slack_secrets` through `shared.aws_json` (no AWS SDK on its path);
the worker, which loads boto3 anyway, with `load_slack_secrets` (Powertools parameters, cached).

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


def read_slack_secrets(secret_id: str, *, client: Any) -> SlackSecrets:
    """Read the secret with `client.get_secret_value` (the ack's `shared.aws_json.SecretsManagerClient`, no SDK),
    or raise `SettingsError` saying why not: AWS's error code and message, or what is wrong with its JSON (never
    a value)."""
    from shared.aws_json import AwsCallError

    try:
        text = client.get_secret_value(SecretId=secret_id).get("SecretString")
    except AwsCallError as exc:
        raise SettingsError(f"cannot read the Slack secret {secret_id}: {exc}") from None
    if not isinstance(text, str):
        raise SettingsError(f"cannot read the Slack secret {secret_id}: it has no SecretString (a binary secret?)")
    try:
        return SlackSecrets.model_validate_json(text)
    except ValidationError as exc:  # the errors' types and places only: their inputs would be the secret's values
        problems = "; ".join(f"{'/'.join(map(str, e['loc'])) or 'value'}: {e['type']}" for e in exc.errors())
        raise SettingsError(f"cannot read the Slack secret {secret_id}: not the expected JSON ({problems})") from None


def load_slack_secrets(secret_id: str, *, client: Any, max_age: int = SECRET_MAX_AGE_S) -> SlackSecrets:
    """Read the secret (cached `max_age` seconds), or raise `SettingsError` saying why not (never the value)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    try:
        value = SecretsProvider(boto3_client=client).get(secret_id, transform="json", max_age=max_age)
        return SlackSecrets.model_validate(value)
    except (GetParameterError, TransformParameterError, ValidationError) as exc:
        raise SettingsError(f"cannot read the Slack secret {secret_id}: {type(exc).__name__}") from None
