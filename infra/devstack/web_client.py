"""A Slack client in a browser for the local stack: the page, its live updates, and what it sends like Slack.

`WebSlack` serves a page (infra/devstack/web/) on 127.0.0.1 showing the local workspace as a Slack client
would (a `Conversation`), pushes every change to it with server-sent events, and turns what a person does
on it into the requests Slack would send: a slash command (signed form body with a fresh response_url),
an `@opsbot` mention (a signed Events API `app_mention`), a click (a signed `block_actions` payload whose
response_url belongs to the clicked message). Everything goes to the ingress through `POST /slack/events`
on this server, a tap that forwards the signed bytes unchanged and shows the acks; pointing `opsbot send`
or `run_command` at `tap_url` puts their commands on the page too.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from infra.cli.manifest import MESSAGES_TAB_READ_ONLY
from infra.devstack.client import Target, parse_command_line
from infra.devstack.conversation import Channel, Conversation, DemoUser, Message
from infra.devstack.demo import DEMO_CHANNELS, DEMO_USERGROUP_HANDLES, DEMO_USERS
from infra.devstack.errors import CommandLineError, IngressUnreachableError
from infra.devstack.slack_api import BOT_USER_ID, TEAM_ID, SlackApiServer
from infra.devstack.slack_request import (
    FORM_CONTENT_TYPE,
    USER_AGENT,
    PostResult,
    SignedRequest,
    SlashCommand,
    post,
    random_trigger_id,
    sign,
    signed_slash_command,
)

logger = logging.getLogger(__name__)

API_APP_ID = "A0OPSBOT"
#: What the page's static files are served as.
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
#: Headers of a Slack request the tap passes on to the ingress.
_FORWARDED = ("content-type", "user-agent", "x-slack-request-timestamp", "x-slack-signature", "x-slack-retry-num")
_KEEPALIVE_S = 15.0
#: What Slack's composer says in the app's Messages tab when the manifest makes it read-only.
DM_TURNED_OFF = "Sending messages to this app has been turned off. Type commands in a channel."
#: Larger request bodies are refused (Slack's own payloads are far smaller).
_MAX_BODY = 1_000_000


def escape_mrkdwn(text: str) -> str:
    """Slack escapes `&`, `<` and `>` in what a person types before an app sees it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def static_file(name: str) -> bytes:
    """One file of the page (package data under infra/devstack/web/)."""
    return resources.files("infra.devstack").joinpath("web", name).read_bytes()


class WebSlack:
    """The page's server on 127.0.0.1 (port 0: any free port) in front of a running local stack."""

    def __init__(
        self,
        slack: SlackApiServer,
        target: Target,
        *,
        port: int = 0,
        users: Iterable[DemoUser] = DEMO_USERS,
        channels: Iterable[Channel] = DEMO_CHANNELS,
        group_handles: Mapping[str, str] = DEMO_USERGROUP_HANDLES,
        ack_timeout: float = 3.0,
    ) -> None:
        self.slack = slack
        self.group_handles = dict(group_handles)
        self.target = target
        self.conversation = Conversation(users, channels)
        self._ack_timeout = ack_timeout
        self._httpd = _Server(("127.0.0.1", port), self)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def tap_url(self) -> str:
        """A Slack request URL that forwards to the ingress and shows the request on the page."""
        return f"{self.url}/slack/events"

    def start(self) -> WebSlack:
        for name, run in (("web-slack-http", self._serve), ("web-slack-feed", self._feed)):
            thread = threading.Thread(target=run, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.conversation.close()  # the event streams end
        self._httpd.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._httpd.server_close()

    def __enter__(self) -> WebSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.1)

    def _feed(self) -> None:
        """Every message the local Slack API accepts, into the conversation (no polling: a blocking wait)."""
        last = 0
        while not self._stopping.is_set():
            for record in self.slack.wait_for_messages(after=last, timeout=0.5):
                last = max(last, record.seq)
                self.conversation.apply(record)

    # -- what a person does on the page ------------------------------------------------------

    def user(self, user_id: str) -> DemoUser:
        found = next((u for u in self.conversation.users if u.id == user_id), None)
        if found is None:
            raise CommandLineError(f"unknown user {user_id!r}")
        return found

    def channel(self, channel_id: str) -> Channel:
        found = next((c for c in self.conversation.channels if c.id == channel_id), None)
        if found is None:
            raise CommandLineError(f"unknown channel {channel_id!r}")
        return found

    def send(self, user_id: str, channel_id: str, text: str, *, thread_ts: str | None = None) -> PostResult | None:
        """What the composer sends: a slash command, a message mentioning @opsbot, or a plain message."""
        user, channel, line = self.user(user_id), self.channel(channel_id), text.strip()
        if not line:
            raise CommandLineError("nothing to send")
        if channel.kind == "dm" and MESSAGES_TAB_READ_ONLY:  # as Slack refuses it (the manifest's Messages tab)
            raise CommandLineError(DM_TURNED_OFF)
        if line.startswith("/"):
            command, rest = parse_command_line(line)
            request = signed_slash_command(
                SlashCommand(
                    command=command,
                    text=rest,
                    response_url=self.slack.response_url(secrets.token_urlsafe(12)),
                    user_id=user.id,
                    user_name=user.name,
                    channel_id=channel.id,
                    channel_name=channel.name,
                    team_id=TEAM_ID,
                ),
                self.target.signing_secret,
            )
            return self.forward(request)
        ts = self.conversation.next_ts()
        mrkdwn = escape_mrkdwn(line).replace("@opsbot", f"<@{BOT_USER_ID}>")
        if f"<@{BOT_USER_ID}>" not in mrkdwn:
            self.conversation.user_message(channel.id, user.id, mrkdwn, ts=ts, thread_ts=thread_ts)
            return None
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user.id,
            "text": mrkdwn,
            "ts": ts,
            "channel": channel.id,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = {
            "token": SlashCommand.token,
            "team_id": TEAM_ID,
            "api_app_id": API_APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(float(ts)),
            "event": event,
        }
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self._sign(raw)}
        return self.forward(SignedRequest(body=raw, headers=headers))

    def click(
        self, user_id: str, message_id: str, action_id: str, *, block_id: str = "", selected: str | None = None
    ) -> PostResult:
        """A button click or a select choice on a message, as Slack's signed `block_actions` payload."""
        user = self.user(user_id)
        message = self.conversation.message(message_id)
        if message is None or message.deleted:
            raise CommandLineError("that message is gone")
        element = _find_element(message.blocks, action_id, block_id)
        if element is None:
            raise CommandLineError(f"no element {action_id!r} on that message")
        action: dict[str, Any] = {
            "type": element.get("type"),
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": self.conversation.next_ts(),
        }
        if element.get("type") == "button":
            action |= {k: element[k] for k in ("text", "value", "style") if k in element}
        else:
            option = _find_option(element, selected)
            if option is None:
                raise CommandLineError(f"no option {selected!r} in {action_id!r}")
            action["selected_option"] = option
        channel = self.channel(message.channel)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
            "api_app_id": API_APP_ID,
            "token": SlashCommand.token,
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": message.visible_to is not None,
            },
            "trigger_id": random_trigger_id(),
            "team": {"id": TEAM_ID, "domain": "local"},
            "channel": {"id": channel.id, "name": channel.name},
            "response_url": self.slack.response_url(secrets.token_urlsafe(12)),
            "actions": [action],
            "state": {"values": {}},
        }
        if message.visible_to is None:  # Slack sends the message itself, except for an ephemeral one
            payload["message"] = {
                "type": "message",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks,
                "user": message.user,
            }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": FORM_CONTENT_TYPE, "User-Agent": USER_AGENT, **self._sign(body)}
        return self.forward(SignedRequest(body=body, headers=headers))

    def _sign(self, body: bytes) -> dict[str, str]:
        return sign(body, self.target.signing_secret)

    # -- the tap in front of the ingress -----------------------------------------------------

    def forward(self, request: SignedRequest) -> PostResult:
        """Post a signed Slack request to the ingress unchanged, and show it and its ack on the page."""
        seen = _observe(self.conversation, request, self._response_key)
        try:
            result = post(self.target.events_url, request, timeout=self._ack_timeout)
        except IngressUnreachableError:
            seen.failed("dispatch_failed")
            raise
        if result.status != 200:
            seen.failed(f"http_error {result.status}")
        else:
            seen.acked(result.body)
        return result

    def _response_key(self, url: object) -> str | None:
        prefix = f"{self.slack.url}/response/"
        return url.removeprefix(prefix) if isinstance(url, str) and url.startswith(prefix) else None


class _Seen:
    """A request the tap let through: what to show when its ack comes back."""

    def __init__(self, conversation: Conversation, channel: str, user: str, what: str) -> None:
        self._conversation = conversation
        self._channel, self._user, self._what = channel, user, what
        self._ack: tuple[str, str, str] | None = None  # (message id, response_url key, command line)

    def expect_ack(self, message_id: str, key: str, line: str) -> None:
        self._ack = (message_id, key, line)

    def acked(self, body: str) -> None:
        if self._ack is None or not body.strip():
            return
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = {"text": body}
        if isinstance(parsed, Mapping):
            self._conversation.command_acked(*self._ack, parsed)

    def failed(self, error: str) -> None:
        if self._channel and self._user:
            self._conversation.failed(self._channel, self._user, f'{self._what} failed with the error "{error}"')


def _observe(conversation: Conversation, request: SignedRequest, key_of: Callable[[object], str | None]) -> _Seen:
    """Learn from a Slack request before it goes: the mention it is, or whose response_url it carries."""
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    if content_type.startswith("application/json"):
        return _observe_event(conversation, request.body)
    form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
    if "payload" in form:
        return _observe_click(conversation, form["payload"], key_of)
    line = f"{form.get('command', '')} {form.get('text', '')}".strip()
    channel, user = form.get("channel_id", ""), form.get("user_id", "")
    seen = _Seen(conversation, channel, user, f"`{line}`")
    key = key_of(form.get("response_url"))
    if key and channel and user:
        seen.expect_ack(conversation.command_sent(key, channel, user), key, line)
    return seen


def _observe_event(conversation: Conversation, body: bytes) -> _Seen:
    """An Events API callback: the message that mentions opsbot appears in its channel (or thread)."""
    try:
        event = json.loads(body)["event"]
        channel, user, ts, text = (str(event[k]) for k in ("channel", "user", "ts", "text"))
    except (ValueError, KeyError, TypeError):
        return _Seen(conversation, "", "", "the event")
    thread_ts = str(event["thread_ts"]) if event.get("thread_ts") else None
    conversation.user_message(channel, user, text, ts=ts, thread_ts=thread_ts)
    return _Seen(conversation, channel, user, "Your mention of @opsbot")


def _observe_click(conversation: Conversation, raw: str, key_of: Callable[[object], str | None]) -> _Seen:
    """A `block_actions` payload: its response_url belongs to the clicked message (by its container, else by
    the clicked button's value, for a client that names no message)."""
    try:
        payload = json.loads(raw)
        user = str(payload["user"]["id"])
        channel = str((payload.get("channel") or {}).get("id") or "")
        container = payload.get("container") or {}
        actions = [a for a in payload.get("actions") or [] if isinstance(a, Mapping)]
    except (ValueError, KeyError, TypeError, AttributeError):
        return _Seen(conversation, "", "", "the click")
    clicked: Message | None = None
    if isinstance(container, Mapping) and container.get("message_ts"):
        clicked = conversation.find_by_ts(str(container.get("channel_id") or channel), str(container["message_ts"]))
    if clicked is None:
        values = [str(a.get("value") or "") for a in actions]
        clicked = next((m for v in values if (m := conversation.find_by_button_value(v))), None)
    key = key_of(payload.get("response_url"))
    if key and clicked is not None:
        conversation.clicked(key, clicked.id, user)
    return _Seen(conversation, channel or (clicked.channel if clicked else ""), user, "Your click")


def _find_element(blocks: list[dict[str, Any]], action_id: str, block_id: str) -> dict[str, Any] | None:
    for block in blocks:
        if block_id and block.get("block_id", "") != block_id:
            continue
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        candidates.append(block.get("accessory"))
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def _find_option(element: Mapping[str, Any], value: str | None) -> dict[str, Any] | None:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return next((o for o in options if isinstance(o, dict) and o.get("value") == value), None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], web: WebSlack) -> None:
        self.web = web
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Routes: the page, `GET /api/state`, `GET /events` (server-sent events), `POST /api/send`,
    `POST /api/action`, and the tap `POST /slack/events`."""

    server_version = "opsbot-webslack/0.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    @property
    def web(self) -> WebSlack:
        return self.server.web

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type.startswith("text/html"):
            self.send_header(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'",
            )
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._reply(status, json.dumps(payload).encode())

    def _local_host(self) -> bool:
        """Only requests addressed to this server by its loopback name (no DNS rebinding)."""
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def do_GET(self) -> None:
        if not self._local_host():
            return self._json({"ok": False, "error": "unknown host"}, 403)
        path = urlsplit(self.path).path
        if path in _STATIC:
            name, content_type = _STATIC[path]
            return self._reply(200, static_file(name), content_type)
        if path == "/api/state":
            conversation = self.web.conversation
            return self._json(
                {
                    "bot": BOT_USER_ID,
                    "users": [vars(u) for u in conversation.users],
                    "channels": [vars(c) for c in conversation.channels],
                    "groups": self.web.group_handles,
                    "dm_read_only": DM_TURNED_OFF if MESSAGES_TAB_READ_ONLY else None,
                }
            )
        if path == "/events":
            return self._events()
        return self._json({"ok": False, "error": "not found"}, 404)

    def do_POST(self) -> None:
        if not self._local_host():
            return self._json({"ok": False, "error": "unknown host"}, 403)
        path = urlsplit(self.path).path
        declared = self.headers.get("Content-Length") or "0"
        length = int(declared) if declared.isdigit() else -1
        if not 0 <= length <= _MAX_BODY:
            return self._json({"ok": False, "error": "body too large or without a length"}, 413)
        body = self.rfile.read(length)
        if path == "/slack/events":
            return self._tap(body)
        if path not in ("/api/send", "/api/action"):
            return self._json({"ok": False, "error": "not found"}, 404)
        # JSON only and from this page: another site's form or fetch cannot make the page act for you.
        origin = self.headers.get("Origin")
        if not self.headers.get("Content-Type", "").startswith("application/json") or (
            origin is not None and origin != f"http://{self.headers.get('Host')}"
        ):
            return self._json({"ok": False, "error": "a JSON request from this page only"}, 403)
        try:
            args = json.loads(body)
            if not isinstance(args, dict):
                raise ValueError("not an object")
            if path == "/api/send":
                result = self.web.send(
                    str(args["user"]), str(args["channel"]), str(args["text"]), thread_ts=args.get("thread_ts")
                )
            else:
                result = self.web.click(
                    str(args["user"]),
                    str(args["message"]),
                    str(args["action_id"]),
                    block_id=str(args.get("block_id") or ""),
                    selected=args.get("selected"),
                )
        except (ValueError, KeyError, TypeError) as exc:
            return self._json({"ok": False, "error": f"bad request: {exc}"}, 400)
        except CommandLineError as exc:
            return self._json({"ok": False, "error": str(exc)}, 400)
        except IngressUnreachableError as exc:
            return self._json({"ok": False, "error": str(exc)}, 502)
        return self._json({"ok": True, "status": result.status if result else None})

    def _tap(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
        try:
            result = self.web.forward(SignedRequest(body=body, headers=headers))
        except IngressUnreachableError as exc:
            return self._json({"ok": False, "error": str(exc)}, 502)
        self._reply(result.status, result.body.encode(), result.headers.get("Content-Type", "application/json"))

    def _events(self) -> None:
        """Server-sent events: every change after `Last-Event-ID` (all of them on a first connection)."""
        try:
            last = int(self.headers.get("Last-Event-ID") or 0)
        except ValueError:
            last = 0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        conversation = self.web.conversation
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not conversation.closed:
                events = conversation.events_after(last, timeout=_KEEPALIVE_S)
                if not events:
                    self.wfile.write(b": keepalive\n\n")
                for seq, event in events:
                    data = json.dumps(event, separators=(",", ":"))
                    self.wfile.write(f"id: {seq}\nevent: {event['type']}\ndata: {data}\n\n".encode())
                    last = seq
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
