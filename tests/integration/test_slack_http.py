"""The worker's Slack clients over kept-alive connections (`worker_function.slack_http`), on real HTTP servers.

Given the local Slack API (HTTP/1.1) or a raw socket server, when the pooled WebClient / WebhookClient send,
then they reuse one connection, replace a connection the server closed, and fail as urllib does (so slack_sdk's
retries and the worker's "was it sent?" test behave as before).
"""

from __future__ import annotations

import select
import socket
import threading
import urllib.error
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from infra.devstack._http import BackgroundServer, text_response
from infra.devstack.aws import free_port
from worker_function.clients import SLACK_TIMEOUT, slack_retry_handlers
from worker_function.effects import not_sent
from worker_function.slack_http import ConnectionPool, PooledWebClient, PooledWebhookClient


def web_client(slack, pool: ConnectionPool | None = None) -> PooledWebClient:
    return PooledWebClient(
        token="xoxb-test",
        base_url=slack.api_url,
        timeout=SLACK_TIMEOUT,
        retry_handlers=slack_retry_handlers(2),
        pool=pool,
    )


def test_web_api_and_response_url_calls_share_one_kept_alive_connection(slack):
    web = web_client(slack)
    hooks = [PooledWebhookClient(slack.response_url(), timeout=SLACK_TIMEOUT, pool=web.pool) for _ in range(3)]

    posted = [web.chat_postMessage(channel="C0OPS", text=f"hello {i}") for i in range(3)]
    answered = [hook.send_dict({"text": "done", "response_type": "ephemeral"}) for hook in hooks]

    assert all(p["ok"] for p in posted) and [a.status_code for a in answered] == [200, 200, 200]
    assert [m.text for m in slack.messages()] == ["hello 0", "hello 1", "hello 2", "done", "done", "done"]
    assert (web.pool.connects, web.pool.requests) == (1, 6)


def test_errors_come_back_as_slack_sdk_expects_them(slack):
    web = web_client(slack)
    slack.inject_fault("chat.postMessage", 500, times=1)
    slack.inject_fault("auth.test", 500, times=1)
    slack.inject_fault("chat.update", 200, body='{"ok": false, "error": "message_not_found"}')
    slack.inject_fault("response_url", 404, body="expired_url")

    with pytest.raises(SlackApiError) as lost:  # a post is not sent again: Slack may have made it
        web.chat_postMessage(channel="C0OPS", text="after a 500")
    retried = web.auth_test()  # a read is: ServerErrorRetryHandler
    with pytest.raises(SlackApiError) as refused:
        web.chat_update(channel="C0OPS", ts="1.2", text="x")
    expired = PooledWebhookClient(slack.response_url(), pool=web.pool).send_dict({"text": "late"})

    assert lost.value.response.status_code == 500
    assert [c.status for c in slack.calls if c.path.endswith("chat.postMessage")] == [500]
    assert retried["ok"] and refused.value.response["error"] == "message_not_found"
    assert (expired.status_code, expired.body) == (404, "expired_url")
    assert web.pool.connects == 1  # an error answer keeps the connection


def test_a_refused_connection_is_reported_as_not_sent():
    hook = PooledWebhookClient(f"http://127.0.0.1:{free_port()}/response/x", timeout=2)

    with pytest.raises(urllib.error.URLError) as refused:
        hook.send_dict({"text": "nobody listens"})

    assert isinstance(refused.value.reason, ConnectionRefusedError) and not_sent(refused.value)


def test_a_server_that_closes_after_each_response_gets_a_new_connection_each_time():
    server = BackgroundServer(lambda request: text_response("ok"))  # HTTP/1.0: closes after each response
    server.start()
    try:
        pool = ConnectionPool()
        answers = [PooledWebhookClient(f"{server.url}/hook", pool=pool).send_dict({"text": "x"}) for _ in range(3)]
    finally:
        server.stop()

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert (pool.connects, pool.requests) == (3, 3)


@pytest.fixture
def closes_idle_connections() -> Iterator[tuple[str, list[int]]]:
    """A raw HTTP/1.1 server that answers one request per connection with keep-alive, then closes it (as a
    server whose idle timeout passed); yields its URL and the connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                accepted.append(1)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
                length = int(lengths[0].split(b":")[1]) if lengths else 0
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_before_it_is_used(closes_idle_connections):
    url, accepted = closes_idle_connections
    pool = ConnectionPool()
    first = PooledWebhookClient(f"{url}/a", pool=pool).send_dict({"text": "one"})
    [[idle]] = pool._idle.values()
    assert idle.sock is not None
    select.select([idle.sock], [], [], 10)  # the server's close (EOF) has reached the idle connection

    second = PooledWebhookClient(f"{url}/b", pool=pool).send_dict({"text": "two"})

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(accepted) == 2 and pool.connects == 2  # no failed attempt on the dead connection
