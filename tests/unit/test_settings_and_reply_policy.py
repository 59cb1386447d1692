from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.settings import MAX_RECEIVE_COUNT, AckSettings, WorkerSettings
from worker_function.reply import response_url_allowed


def test_ack_settings_read_the_environment_names():
    settings = AckSettings.from_env(
        {"SLACK_SIGNING_SECRET": "hush-9f2c", "JOBS_QUEUE_URL": "https://q", "AWS_REGION": "eu-west-1"}
    )
    assert settings.slack_signing_secret.get_secret_value() == "hush-9f2c"
    assert (settings.jobs_queue_url, settings.aws_region) == ("https://q", "eu-west-1")
    assert "hush-9f2c" not in repr(settings)


@pytest.mark.parametrize("env", [{"JOBS_QUEUE_URL": "q"}, {"JOBS_QUEUE_URL": "q", "SLACK_SIGNING_SECRET": ""}])
def test_a_missing_signing_secret_is_a_settings_error_naming_it(env):
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        AckSettings.from_env(env)


def test_enqueue_timeouts_cannot_be_set_past_slacks_deadline():
    with pytest.raises(SettingsError, match="OPSBOT_ENQUEUE_READ_TIMEOUT"):
        AckSettings.from_env({"SLACK_SIGNING_SECRET": "s", "JOBS_QUEUE_URL": "q", "OPSBOT_ENQUEUE_READ_TIMEOUT": "5"})


def test_worker_settings_defaults():
    settings = WorkerSettings.from_env({"JOBS_QUEUE_URL": "q", "OPSBOT_LOCAL_MODE": "1"})
    assert settings.local_mode is True
    assert settings.max_receive_count == MAX_RECEIVE_COUNT
    assert settings.slack_api_url == "https://slack.com/api/"


@pytest.mark.parametrize(
    ("url", "local", "allowed"),
    [
        ("https://hooks.slack.com/commands/T1/2/3", False, True),
        ("http://hooks.slack.com/commands/T1/2/3", False, False),
        ("https://hooks.slack.com.evil.example/x", False, False),
        ("https://evil.example/?https://hooks.slack.com/", False, False),
        ("http://127.0.0.1:3001/response/k", False, False),
        ("http://127.0.0.1:3001/response/k", True, True),
        ("http://localhost:3001/response/k", True, True),
        ("http://10.0.0.1/response/k", True, False),
        ("https://hooks.slack.com:443/commands/T1/2/3", False, True),
        ("https://hooks.slack.com:8443/commands/T1/2/3", False, False),
        ("https://user:pw@hooks.slack.com/commands/T1/2/3", False, False),
        ("https://evil.example@hooks.slack.com/commands/T1/2/3", False, False),
        ("https://hooks.slack.com\\@evil.example/commands", False, False),
        ("https://hooks.slack.com\\evil.example/commands", False, False),
        ("https://hooks.slack.com:abc/commands", False, False),
        ("https://hooks.slack.com./commands", False, False),
        ("https://hooks.slack.com/commands/T1/2/3 https://evil.example", False, False),
        ("https://hooks.slack.com/commands/\r\nHost: evil.example", False, False),
    ],
)
def test_response_url_must_be_on_slacks_hosts_or_loopback_in_local_mode(url, local, allowed):
    assert response_url_allowed(url, local_mode=local) is allowed


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://HOOKS.slack.com/commands/T1/2/3#frag", "https://hooks.slack.com/commands/T1/2/3"),
        ("https://hooks.slack.com:443/commands/T1/2/3?x=1", "https://hooks.slack.com:443/commands/T1/2/3?x=1"),
    ],
)
def test_the_response_url_sent_is_rebuilt_from_what_was_checked(url, sent):
    from worker_function.reply import safe_response_url

    assert safe_response_url(url, local_mode=False) == sent
