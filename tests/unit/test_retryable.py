"""Which errors an operation raises are worth a retry (`errors.retryable`): the rest are permanent failures."""

from __future__ import annotations

import socket

import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from shared.errors import EnqueueError
from worker_function.errors import (
    AssumeRoleThrottledError,
    GroupLookupError,
    TransientJobError,
    retryable,
    transient,
)


def http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


def slack_error(error: str) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=200,
    )
    return SlackApiError(error, response)


def caused(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "PutItem"),
        ClientError({"Error": {"Code": "ThrottlingException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "Get"),
        EndpointConnectionError(endpoint_url="https://ecs.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://ecs.eu-west-1.amazonaws.com"),
        ConnectionRefusedError(),
        socket.gaierror(-2, "Name or service not known"),
        http_error(503),
        caused(RuntimeError("Error in request"), http_error(502)),  # python-jenkins wraps the 5xx
        slack_error("channel_not_found"),  # a Slack answer: the worker's edge decides what it means
        TransientJobError("the cache did not answer"),
        GroupLookupError("S0DBA", "ratelimited"),
        AssumeRoleThrottledError("STS throttled"),
        EnqueueError("SendMessage refused"),  # an operation queueing a job (a cancel's notice, an expiry)
    ],
)
def test_an_error_a_retry_may_fix_is_retried(error):
    assert retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        AttributeError("module has no attribute 'preview'"),
        KeyError("summary"),
        TypeError("run() takes 3 positional arguments but 4 were given"),
        ValueError("invalid literal for int()"),
        ClientError({"Error": {"Code": "InvalidParameterValue"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "X"),
        http_error(400),
        FileNotFoundError("/tmp/none"),
    ],
)
def test_anything_else_is_not(error):
    assert not retryable(error)


def test_slacks_own_trouble_is_transient_a_refusal_is_not():
    """Chaos seed 255: an approval request whose chat.postMessage Slack answered 503 on every receive was given up on
    its last one (a Slack 5xx was not counted transient), while Slack was failing the requester's routes too: never
    told. Slack's own trouble on the last receive now puts the job back on the queue instead."""
    assert transient(slack_error("internal_error")) and transient(slack_error("fatal_error"))
    assert not transient(slack_error("not_in_channel")) and not transient(slack_error("invalid_blocks"))
