"""The fault proxy itself: each mode does to the client and to the target what it says, rules pick the calls
they name (service, action, nth, a window opened by a trigger), and the text form is read or refused clearly."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.devstack._http import BackgroundServer, json_response
from infra.devstack.fault_proxy import FaultProxy, Rule, parse_rules

pytestmark = pytest.mark.integration


@pytest.fixture
def target() -> Iterator[tuple[BackgroundServer, list[str]]]:
    """A tiny service that records what reached it."""
    seen: list[str] = []

    def app(request: Any) -> Any:
        seen.append(request.header("X-Amz-Target") or request.path)
        return json_response({"ok": True})

    server = BackgroundServer(app)
    server.start()
    try:
        yield server, seen
    finally:
        server.stop()


def post(url: str, action: str, *, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {
            "X-Amz-Target": f"DynamoDB_20120810.{action}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20261206/us-east-1/dynamodb/aws4_request, ...",
            "Content-Type": "application/x-amz-json-1.0",
        }
        connection.request("POST", "/", body=b"{}", headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    proxy = FaultProxy()
    try:
        yield proxy
    finally:
        proxy.close()


def test_each_mode_does_what_it_says_to_the_client_and_the_target(target, proxy):
    server, seen = target
    url = proxy.front("aws", server.url)

    proxy.add(Rule("refuse", action="GetItem", nth=1))
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        post(url, "GetItem")
    assert seen == []  # never reached the target

    proxy.add(Rule("error", action="PutItem", nth=1))
    status, body = post(url, "PutItem")
    assert (status, body["__type"]) == (503, "ServiceUnavailableException")
    assert seen == ["DynamoDB_20120810.PutItem"]  # the target acted; the answer was not its own

    proxy.add(Rule("reset", action="UpdateItem", nth=1))
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        post(url, "UpdateItem")
    proxy.add(Rule("timeout", action="DeleteItem", nth=1, hold_s=10))
    with pytest.raises(TimeoutError):
        post(url, "DeleteItem", timeout=0.5)
    assert seen[1:] == ["DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.DeleteItem"]

    proxy.add(Rule("latency", action="Query", delay_s=0.2))
    assert post(url, "Query")[0] == 200
    assert post(url, "GetItem")[0] == 200  # the refusal was for the first GetItem only
    calls = [(c.name, c.fault.mode if c.fault else None, c.forwarded) for c in proxy.calls]
    assert calls == [
        ("dynamodb.GetItem", "refuse", False),
        ("dynamodb.PutItem", "error", True),
        ("dynamodb.UpdateItem", "reset", True),
        ("dynamodb.DeleteItem", "timeout", True),
        ("dynamodb.Query", "latency", True),
        ("dynamodb.GetItem", None, True),
    ]


def test_a_window_opens_when_its_trigger_call_is_answered_and_closes_after_its_seconds(target, proxy):
    server, _ = target
    url = proxy.front("aws", server.url)
    now = [1000.0]  # the window's clock moves by hand: however slow the machine, the calls fall where intended
    proxy.clock = lambda: now[0]
    proxy.add(Rule("error", service="dynamodb", action="write", for_s=5, trigger="dynamodb.Scan"))

    before = post(url, "PutItem")[0]
    now[0] += 60  # a window opens when its trigger is answered, not when the rule was added
    post(url, "Scan")
    now[0] += 4.5
    during = [post(url, "PutItem")[0], post(url, "GetItem")[0]]  # writes fail, reads do not
    now[0] += 1
    after = post(url, "UpdateItem")[0]

    assert (before, during, after) == (200, [503, 200], 200)
    assert [c.name for c in proxy.seen("write", forwarded=True)] == [
        "dynamodb.PutItem",
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
    ]


def test_the_text_form_is_read_and_mistakes_are_named():
    [rule] = parse_rules("service=dynamodb,action=write,mode=error,for=8s,trigger=ecs.UpdateService")
    assert (rule.service, rule.action, rule.mode, rule.for_s, rule.trigger) == (
        "dynamodb",
        "write",
        "error",
        8.0,
        "ecs.UpdateService",
    )
    assert len(parse_rules("mode=latency,delay=0.5; mode=refuse,action=PutItem,nth=2")) == 2
    for wrong, said in [
        ("service=dynamodb", "needs mode="),
        ("mode=explode", "unknown fault mode"),
        ("mode=error,colour=red", "unknown fault rule key 'colour'"),
        ("mode=error,dynamodb", "key=value pairs"),
    ]:
        with pytest.raises(ValueError, match=said):
            parse_rules(wrong)
