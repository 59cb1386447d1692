"""Socket Mode: the ack's Bolt app over Slack's WebSocket instead of a public Request URL.

`socket_mode_handler` is what `opsbot local --socket-mode` runs against a real workspace (app-level
token `xapp-...`). `LocalSocketModeServer` plays Slack's side on loopback for tests: the WebSocket
(RFC 6455, text frames) that `apps.connections.open` points the client at, sending `hello` and
request envelopes and collecting the app's acks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import struct
import threading
import uuid
from typing import Any

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from ack_function.app import build_app
from shared.queue import JobQueue

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def socket_mode_handler(app_token: str, queue: JobQueue, *, web_client: WebClient | None = None) -> SocketModeHandler:
    """The ack's listeners (validate, enqueue, ack) over Socket Mode. Requests arrive on a WebSocket
    opened with the app-level token, so they carry no signature; Bolt skips verification for them,
    and the signing secret given to the app is never used."""
    app = build_app(secrets.token_hex(16), queue)
    return SocketModeHandler(app, app_token, web_client=web_client)


class LocalSocketModeServer:
    """Slack's Socket Mode endpoint on 127.0.0.1, one client at a time."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._client: socket.socket | None = None
        self._connected = threading.Event()
        self._acks: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="socket-mode", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link"

    def start(self) -> LocalSocketModeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._listener.close()
        if self._client is not None:
            self._client.close()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def send_request(self, kind: str, payload: dict[str, Any], *, timeout: float = 5.0) -> dict[str, Any] | None:
        """Send an envelope (`slash_commands`, `events_api`, `interactive`) and wait for the app's ack:
        its `payload` (or {} for an ack without one); None if none came in time."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}
        assert self._client is not None, "no Socket Mode client connected"
        self._client.sendall(_frame(json.dumps(envelope).encode()))
        with self._cond:
            self._cond.wait_for(lambda: envelope_id in self._acks, timeout)
            return self._acks.pop(envelope_id, None)

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._client = conn
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
        key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"].strip()
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        conn.sendall(
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        conn.sendall(_frame(json.dumps({"type": "hello", "num_connections": 1}).encode()))
        self._connected.set()
        try:
            while True:
                opcode, data = _read_frame(conn)
                if opcode == 0x8:  # close
                    return
                if opcode == 0x9:  # ping
                    conn.sendall(_frame(data, opcode=0xA))
                elif opcode == 0x1:
                    message = json.loads(data)
                    with self._cond:
                        self._acks[message["envelope_id"]] = message.get("payload") or {}
                        self._cond.notify_all()
        except (OSError, ConnectionError):
            return


def _frame(data: bytes, *, opcode: int = 0x1) -> bytes:
    """A final, unmasked server frame."""
    head = bytes([0x80 | opcode])
    if len(data) < 126:
        return head + bytes([len(data)]) + data
    if len(data) < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", len(data)) + data
    return head + bytes([127]) + struct.pack("!Q", len(data)) + data


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("socket closed")
        data += chunk
    return data


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    """One client frame (clients always mask); fragmented messages are not expected from slack_sdk."""
    first, second = _read_exactly(conn, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read_exactly(conn, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exactly(conn, 8))[0]
    mask = _read_exactly(conn, 4) if second & 0x80 else b"\0\0\0\0"
    payload = _read_exactly(conn, length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
