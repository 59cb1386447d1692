"""The worker reads the Jenkins credentials from the secret when the environment has none."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from shared.settings import WorkerSettings
from worker_function.app import with_jenkins_credentials
from worker_function.clients import AwsClients
from worker_function.errors import PermanentJobError


@pytest.fixture
def secret_arn(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        yield client.create_secret(
            Name="opsbot",
            SecretString=json.dumps(
                {"signing_secret": "s", "bot_token": "xoxb-1", "jenkins_user": "bot", "jenkins_api_token": "tok"}
            ),
        )["ARN"]


def _settings(**extra):
    return WorkerSettings(jobs_queue_url="q", aws_region="eu-west-1", jenkins_url="https://j.example.com", **extra)


def test_given_the_secret_then_the_jenkins_credentials_come_from_it(secret_arn):
    settings = with_jenkins_credentials(_settings(secret_arn=secret_arn), AwsClients(_settings()))
    assert settings.jenkins_user == "bot"
    assert settings.jenkins_api_token.get_secret_value() == "tok"


def test_given_the_environment_then_the_secret_is_not_read():
    settings = _settings(secret_arn="arn:nope", jenkins_user="u", jenkins_api_token="t")
    assert with_jenkins_credentials(settings, AwsClients(settings)) is settings


def test_given_a_secret_without_a_token_then_the_job_fails_saying_where_to_put_it(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="x", SecretString=json.dumps({"signing_secret": "s", "bot_token": "xoxb"})
        )["ARN"]
        with pytest.raises(PermanentJobError, match="jenkins_api_token"):
            with_jenkins_credentials(_settings(secret_arn=arn), AwsClients(_settings()))
