"""The ack's SigV4 signer gives byte-for-byte the signature botocore gives the same request."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.aws_json import AwsCallError, Credentials, credentials_from_environment, sign_v4

NOW = datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)


def botocore_headers(url: str, headers: dict[str, str], body: bytes, creds: Credentials, service: str, region: str):
    """What botocore's SigV4Auth puts on the same request at the same instant (its clock frozen to NOW)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    auth = SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, creds.token), service, region)
    with patch("botocore.auth.get_current_datetime", lambda *a, **k: NOW.replace(tzinfo=None)):
        auth.add_auth(request)
    return request.headers


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////session+token/="])
@pytest.mark.parametrize(
    ("url", "service", "target"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/", "sqs", "AmazonSQS.SendMessage"),
        ("http://127.0.0.1:5000/", "sqs", "AmazonSQS.SendMessage"),
        ("https://secretsmanager.eu-west-1.amazonaws.com/", "secretsmanager", "secretsmanager.GetSecretValue"),
    ],
)
def test_the_signature_is_the_one_botocore_computes(url, service, target, token):
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    body = b'{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/123456789012/opsbot-jobs","MessageBody":"{}"}'
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}

    ours = sign_v4(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        service=service,
        region="eu-west-1",
        credentials=creds,
        now=NOW,
    )
    theirs = botocore_headers(url, headers, body, creds, service, "eu-west-1")

    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40).filter(lambda s: s.isprintable()))
def test_any_body_and_key_sign_like_botocore(body, secret):
    creds = Credentials("AKID", secret)
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"}
    url = "https://sqs.us-east-1.amazonaws.com/"
    ours = sign_v4(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        service="sqs",
        region="us-east-1",
        credentials=creds,
        now=NOW,
    )
    assert ours["Authorization"] == botocore_headers(url, headers, body, creds, "sqs", "us-east-1")["Authorization"]


def test_static_keys_come_from_the_environment_first():
    creds = credentials_from_environment(
        {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "T",
         "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/never-asked"}
    )  # fmt: skip
    assert creds == Credentials("AK", "SK", "T", None)


def test_no_credentials_at_all_is_a_clear_error():
    with pytest.raises(AwsCallError, match="no AWS credentials"):
        credentials_from_environment({})
