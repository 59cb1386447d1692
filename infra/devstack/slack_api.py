"""A local Slack: response_url targets and the Web API methods opsbot calls, recording every message.

It answers like Slack (`{"ok": true, ...}` from the Web API, `ok` from a response_url), keeps
what it received in memory, serves it back over `GET /_messages` (so a CLI in another process
can follow a job), and can be told to fail on purpose (`inject_fault`, `POST /_faults`).

Strict (the default): it refuses what Slack refuses, from a model of the workspace (`slack_workspace`:
channels, membership, the app's scopes from its manifest) and Slack's rate limits (`slack_limits`: 429 with
`Retry-After`); a response_url serves 5 uses within 30 minutes, a trigger_id is valid for 3 seconds; a
message whose blocks break a Block Kit limit is refused `invalid_blocks` (`block_rules`).
`strict=False` (or `POST /_strict {"strict": false}`) serves every well-formed call, as a hand-made stub would.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict

from infra.devstack._http import BackgroundServer, Request, Response, json_response, text_response
from infra.devstack.block_rules import blocks_refusal
from infra.devstack.blocks import render_blocks
from infra.devstack.slack_limits import RateLimits
from infra.devstack.slack_workspace import SlackChannel, Workspace
from shared.settings import RESPONSE_URL_TTL_SECONDS

__all__ = [
    "FaultRule",
    "MessageRecord",
    "SlackApiServer",
    "format_record",
    "key_owner",
    "owned_key",
    "render_blocks",
]

#: response_url: "up to 5 times within 30 minutes" (api.slack.com/interactivity/handling#message_responses).
RESPONSE_URL_MAX_USES = 5

BOT_USER_ID = "U0OPSBOT"
BOT_ID = "B0OPSBOT"
TEAM_ID = "T0LOCAL"

Kind = Literal["response_url", "chat.postMessage", "chat.update", "chat.postEphemeral"]
_CHAT_METHODS: dict[str, Kind] = {
    "chat.postMessage": "chat.postMessage",
    "chat.update": "chat.update",
    "chat.postEphemeral": "chat.postEphemeral",
}
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
#: A trigger_id may open a modal for 3 seconds (docs.slack.dev/interactivity/handling-user-interaction).
TRIGGER_ID_TTL_S = 3.0
#: A Home tab holds at most 100 blocks (docs.slack.dev/reference/views/home-tab-views).
MAX_HOME_BLOCKS = 100
_DEFAULT_API_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
_DEFAULT_RESPONSE_URL_ERRORS = {404: "expired_url", 429: "rate_limited", 500: "internal_error"}


class MessageRecord(BaseModel):
    """One message Slack accepted: where it went and what it said."""

    model_config = ConfigDict(frozen=True)

    seq: int
    kind: Kind
    #: The response_url key (the last path segment), for response_url messages.
    key: str | None = None
    channel: str | None = None
    #: The message's ts (chat.postMessage) or the ts it updated (chat.update).
    ts: str | None = None
    payload: dict[str, Any]
    received_at: float

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def event_payload(self) -> Mapping[str, Any]:
        metadata = self.payload.get("metadata")
        payload = metadata.get("event_payload") if isinstance(metadata, Mapping) else None
        return payload if isinstance(payload, Mapping) else {}

    @property
    def job_id(self) -> str | None:
        job = self.event_payload.get("job_id")
        return str(job) if job else None

    @property
    def final(self) -> bool:
        """True for a job's last message (metadata `final: true`)."""
        return self.event_payload.get("final") is True


class CallRecord(BaseModel):
    """Every request to /api/ or /response/, accepted or not (faults included)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    path: str
    status: int
    error: str | None = None
    faulted: bool = False
    received_at: float


@dataclass
class FaultRule:
    """Answer the next `times` requests whose path matches `target` with `status` instead of serving them."""

    target: str
    status: int
    times: int = 1
    body: str | None = None
    retry_after: int | None = None
    delay_s: float = 0.0

    @staticmethod
    def normalize(target: str) -> str:
        """`chat.postMessage` -> `/api/chat.postMessage`; `response_url` -> `/response/*`."""
        if target == "response_url":
            return "/response/*"
        return target if target.startswith("/") else f"/api/{target}"

    def matches(self, path: str) -> bool:
        if self.target.endswith("*"):
            return path.startswith(self.target[:-1])
        return path == self.target

    def response(self, path: str) -> Response:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if path.startswith("/api/"):
            body = self.body or json.dumps({"ok": False, "error": _DEFAULT_API_ERRORS.get(self.status, "fatal_error")})
            response = Response(self.status, body.encode(), {"Content-Type": "application/json", **headers})
        else:
            body = self.body or _DEFAULT_RESPONSE_URL_ERRORS.get(self.status, "error")
            response = Response(self.status, body.encode(), {"Content-Type": "text/html", **headers})
        response.delay_s = self.delay_s
        return response


def owned_key(user: str, channel: str) -> str:
    """A response_url key that says whose request it answers (Slack ties a response_url to its request, its
    user and channel): a client in another process (`opsbot send`) makes one, and a page showing the local
    workspace shows its ephemeral messages to that user alone."""
    return f"{user}.{channel}.{secrets.token_urlsafe(12)}"


def key_owner(key: str) -> tuple[str, str] | None:
    """(user, channel) of an `owned_key`, else None."""
    parts = key.split(".")
    if len(parts) == 3 and parts[0][:1] in ("U", "W") and parts[1][:1] in ("C", "G", "D") and parts[2]:
        return parts[0], parts[1]
    return None


def format_record(record: MessageRecord) -> str:
    """A message as a person reads it in a terminal: a header line, then the rendered blocks."""
    where = f"response_url {record.key}" if record.kind == "response_url" else f"{record.kind} #{record.channel}"
    flags = [str(record.payload.get("response_type", ""))] if record.kind == "response_url" else []
    if record.payload.get("thread_ts"):
        flags.append(f"thread {record.payload['thread_ts']}")
    if record.job_id:
        flags.append(f"job {record.job_id[:8]}" + (" final" if record.final else " progress"))
    when = datetime.fromtimestamp(record.received_at).strftime("%H:%M:%S.%f")[:-3]
    header = "── " + " · ".join([where, *(f for f in flags if f), when]) + " ──"
    body = "\n".join(f"   {line}" for line in render_blocks(record.payload).splitlines())
    return f"{header}\n{body}"


def _parse_args(request: Request) -> dict[str, Any] | None:
    """Web API arguments from the query string and a JSON or form body; None if the body is not parseable."""
    args: dict[str, Any] = dict(request.query)
    if request.body:
        if request.content_type == "application/json":
            try:
                body = json.loads(request.body)
            except ValueError:
                return None
            if not isinstance(body, dict):
                return None
            args.update(body)
        else:
            args.update({k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()})
    for name in _JSON_FIELDS:
        if isinstance(args.get(name), str) and args[name]:
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                return None
    return args


class SlackApiServer:
    """The local Slack API. `echo=True` prints every accepted message to `out` (stdout by default)."""

    def __init__(
        self,
        *,
        port: int = 0,
        echo: bool = False,
        out: TextIO | None = None,
        token: str | None = None,
        response_url_max_uses: int = RESPONSE_URL_MAX_USES,
        response_url_ttl_s: float = RESPONSE_URL_TTL_SECONDS,
        usergroups: Mapping[str, list[str]] | None = None,
        workspace: Workspace | None = None,
        strict: bool = True,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.echo = echo
        #: The channels, people, user groups and scopes Slack answers from (`usergroups` adds groups to it).
        self.workspace = workspace or Workspace()
        self.workspace.usergroups.update({k: list(v) for k, v in (usergroups or {}).items()})
        self._usergroups = self.workspace.usergroups
        #: Refuse what Slack refuses (workspace, scopes, rate limits, trigger_id); False serves every call.
        self.strict = strict
        self.limits = rate_limits or RateLimits()
        self._out = out
        self._token = token
        #: Where `apps.connections.open` sends Socket Mode clients (a `LocalSocketModeServer`'s url).
        self.socket_mode_url: str | None = None
        self._max_uses = response_url_max_uses
        self._ttl_s = response_url_ttl_s
        self._lock = threading.Condition()
        self._messages: list[MessageRecord] = []
        self._calls: list[CallRecord] = []
        self._faults: list[FaultRule] = []
        self._response_urls: dict[str, tuple[float, int]] = {}  # key -> (first seen, uses)
        self._posted: set[tuple[str, str]] = set()  # (channel, ts) of messages chat.update may edit
        #: Every views.publish accepted, in order: (user id, view).
        self._views: list[tuple[str, dict[str, Any]]] = []
        self._seq = itertools.count(1)
        self._call_seq = itertools.count(1)
        self._last_ts = 0.0
        # Slack's API keeps connections alive (HTTP/1.1): the worker's pooled clients reuse them.
        self._server = BackgroundServer(self.handle, port=port, keep_alive=True)

    # -- lifecycle and addresses -------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        """The Web API base URL for `WebClient(base_url=...)`."""
        return f"{self.url}/api/"

    def response_url(self, key: str | None = None) -> str:
        """A response_url on this server; its 30-minute clock starts now. A random key when None."""
        key = key or secrets.token_urlsafe(12)
        with self._lock:
            self._response_urls.setdefault(key, (time.time(), 0))
        return f"{self.url}/response/{key}"

    def start(self) -> SlackApiServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> SlackApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was received -------------------------------------------------------------------

    def messages(
        self, *, key: str | None = None, channel: str | None = None, job: str | None = None, after: int = 0
    ) -> list[MessageRecord]:
        """Messages with seq > `after` matching ANY of the given key, channel or job id prefix (all if none)."""
        with self._lock:
            return [m for m in self._messages if m.seq > after and _matches(m, key, channel, job)]

    def wait_for_messages(
        self,
        *,
        key: str | None = None,
        channel: str | None = None,
        job: str | None = None,
        after: int = 0,
        timeout: float = 5.0,
        final: bool = False,
    ) -> list[MessageRecord]:
        """Block until a matching message arrives (a final one when `final`), or the timeout; return matches."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [m for m in self._messages if m.seq > after and _matches(m, key, channel, job)]
                if found and (not final or any(m.final for m in found)):
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return found
                self._lock.wait(remaining)

    def home_views(self, user: str | None = None) -> list[dict[str, Any]]:
        """The Home tab views published (views.publish), oldest first; only `user`'s when given."""
        with self._lock:
            return [view for who, view in self._views if user is None or who == user]

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        """Forget messages, calls, faults and response_url uses."""
        with self._lock:
            self._messages.clear()
            self._calls.clear()
            self._faults.clear()
            self._response_urls.clear()
            self._posted.clear()
            self._views.clear()
        self.limits.reset()

    def set_usergroup(self, group: str, users: list[str]) -> None:
        with self._lock:
            self._usergroups[group] = list(users)

    def add_channel(self, channel_id: str, name: str = "", **kwargs: Any) -> SlackChannel:
        """A channel of the workspace (`private`, `bot_member`, `archived`, `members`)."""
        return self.workspace.add_channel(SlackChannel(channel_id, name or channel_id.lower(), **kwargs))

    # -- fault injection ---------------------------------------------------------------------

    def inject_fault(
        self,
        target: str,
        status: int,
        *,
        times: int = 1,
        body: str | None = None,
        retry_after: int | None = None,
        delay_s: float = 0.0,
    ) -> FaultRule:
        """Make the next `times` calls to `target` (a path, `/response/*`, a Web API method name or
        `response_url`) answer `status`; e.g. `inject_fault("chat.postMessage", 429, times=2, retry_after=1)`."""
        rule = FaultRule(FaultRule.normalize(target), status, times, body, retry_after, delay_s)
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._faults:
                if rule.times > 0 and rule.matches(path):
                    rule.times -= 1
                    return rule
            return None

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """The server's app: route one request."""
        path = request.path
        if path.startswith("/response/") or path.startswith("/api/"):
            fault = self._take_fault(path)
            if fault is not None:
                response = fault.response(path)
                self._log_call(path, response.status, response.body.decode(errors="replace"), faulted=True)
                return response
            if path.startswith("/response/"):
                response = self._response_url(request, path.removeprefix("/response/"))
            else:
                response = self._web_api(request, path.removeprefix("/api/"))
            self._log_call(path, response.status, _error_of(response))
            return response
        if path == "/_messages" and request.method == "GET":
            return self._get_messages(request)
        if path == "/_calls" and request.method == "GET":
            after = int(request.query.get("after") or 0)
            return json_response([c.model_dump() for c in self.calls if c.seq > after])
        if path == "/_views" and request.method == "GET":
            user = request.query.get("user") or None
            return json_response(self.home_views(user))
        if path == "/_faults":
            return self._faults_endpoint(request)
        if path == "/_strict" and request.method == "POST":
            try:
                self.strict = bool(json.loads(request.body or b"{}").get("strict", True))
            except (ValueError, AttributeError):
                return json_response({"ok": False, "error": "invalid_json"}, 400)
            return json_response({"ok": True, "strict": self.strict})
        if path == "/_reset" and request.method == "POST":
            self.reset()
            return json_response({"ok": True})
        if path == "/health":
            return json_response({"ok": True})
        return text_response("not found", 404)

    def _get_messages(self, request: Request) -> Response:
        query = request.query
        try:
            after = int(query.get("after") or 0)
            wait = min(float(query.get("wait") or 0), 10.0)
        except ValueError:
            return json_response({"ok": False, "error": "invalid_arguments"}, 400)
        key, channel, job = (query.get(k) or None for k in ("key", "channel", "job"))
        if wait > 0:
            found = self.wait_for_messages(key=key, channel=channel, job=job, after=after, timeout=wait)
        else:
            found = self.messages(key=key, channel=channel, job=job, after=after)
        return json_response([m.model_dump() for m in found])

    def _faults_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return json_response({"ok": True})
        if request.method == "GET":
            with self._lock:
                return json_response([vars(rule) for rule in self._faults if rule.times > 0])
        try:
            spec = json.loads(request.body)
            rule = self.inject_fault(
                str(spec["target"]),
                int(spec["status"]),
                times=int(spec.get("times", 1)),
                body=spec.get("body"),
                retry_after=spec.get("retry_after"),
                delay_s=float(spec.get("delay_s", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"ok": False, "error": f"invalid fault: {exc}"}, 400)
        return json_response({"ok": True, "fault": vars(rule)})

    def _response_url(self, request: Request, key: str) -> Response:
        if request.method != "POST" or not key or "/" in key:
            return text_response("invalid_url", 404)
        try:
            payload = json.loads(request.body)
        except ValueError:
            return text_response("invalid_payload", 400)
        if not isinstance(payload, dict):
            return text_response("invalid_payload", 400)
        if not payload.get("text") and not payload.get("blocks"):
            return text_response("no_text", 400)
        if self.strict and (refused := blocks_refusal(payload)):
            return text_response(refused, 400)
        with self._lock:
            first_seen, uses = self._response_urls.get(key, (time.time(), 0))
            if time.time() - first_seen > self._ttl_s:
                return text_response("expired_url", 404)
            if uses >= self._max_uses:
                return text_response("used_url", 404)
            self._response_urls[key] = (first_seen, uses + 1)
        self._record("response_url", payload, key=key)
        return Response(200, b"ok", {"Content-Type": "text/html"})

    def _web_api(self, request: Request, method: str) -> Response:
        args = _parse_args(request)
        if args is None:
            return json_response({"ok": False, "error": "invalid_json"})
        auth = request.header("authorization")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(args.get("token", ""))
        if not token:
            return json_response({"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":  # Socket Mode: with the app-level token, not the bot's
            if not token.startswith("xapp-") or self.socket_mode_url is None:
                return json_response({"ok": False, "error": "invalid_auth"})
            return json_response({"ok": True, "url": self.socket_mode_url})
        if self._token is not None and token != self._token:
            return json_response({"ok": False, "error": "invalid_auth"})
        if self.strict:
            refused = self._refusal(method, args)
            if refused is not None:
                return refused
        if method == "auth.test":
            return json_response(
                {
                    "ok": True,
                    "url": "http://localhost/",
                    "team": "local",
                    "user": "opsbot",
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                    "is_enterprise_install": False,
                }
            )
        if method == "usergroups.users.list":
            group = str(args.get("usergroup") or "")
            with self._lock:
                members = self._usergroups.get(group)
            if members is None:
                return json_response({"ok": False, "error": "no_such_subteam"})
            return json_response({"ok": True, "users": members})
        if method == "conversations.open":
            users = str(args.get("users", "")).split(",")[0].strip()
            if not users and not args.get("channel"):
                return json_response({"ok": False, "error": "users_list_not_supplied"})
            channel_id = str(args.get("channel") or self.workspace.open_dm(users).id)
            return json_response({"ok": True, "channel": {"id": channel_id}})
        if method in ("conversations.history", "conversations.replies"):
            limit = int(args.get("limit") or 100)
            thread = str(args.get("ts") or "") if method == "conversations.replies" else None
            return self._history(
                str(args.get("channel") or ""),
                self.limits.history_page(limit) if self.strict else limit,
                thread=thread,
            )
        if method == "views.open":
            return self._open_view(args)
        if method == "views.publish":
            return self._publish_view(args)
        kind = _CHAT_METHODS.get(method)
        if kind is not None:
            return self._chat(kind, args)
        return json_response({"ok": False, "error": "unknown_method"})

    def _chat(self, method: Kind, args: dict[str, Any]) -> Response:
        channel = str(args.get("channel") or "")
        if not channel:
            return json_response({"ok": False, "error": "channel_not_found"})
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return json_response({"ok": False, "error": "no_text"})
        if self.strict and (refused := blocks_refusal(args)):
            return json_response({"ok": False, "error": refused})
        payload = {k: v for k, v in args.items() if k != "token"}
        if method == "chat.postEphemeral":
            if not args.get("user"):
                return json_response({"ok": False, "error": "user_not_in_channel"})
            self._record(method, payload, channel=channel)
            return json_response({"ok": True, "message_ts": self._next_ts()})
        if method == "chat.update":
            ts = str(args.get("ts") or "")
            with self._lock:
                known = (channel, ts) in self._posted
            if not known:
                return json_response({"ok": False, "error": "message_not_found"})
        else:
            ts = self._next_ts()
            with self._lock:
                self._posted.add((channel, ts))
        self._record(method, payload, channel=channel, ts=ts)
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts, **payload}
        message.pop("channel", None)
        return json_response(
            {"ok": True, "channel": channel, "ts": ts, "text": payload.get("text", ""), "message": message}
        )

    def _refusal(self, method: str, args: dict[str, Any]) -> Response | None:
        """What Slack answers instead of serving the call: its workspace's refusal, else a 429 past a limit."""
        refused = self.workspace.refusal(method, args)
        if refused is not None:
            return json_response(refused)
        retry_after = self.limits.take(method, str(args.get("channel") or ""))
        if retry_after is not None:
            response = json_response({"ok": False, "error": "ratelimited"}, 429)
            response.headers["Retry-After"] = str(retry_after)
            return response
        return None

    def _open_view(self, args: dict[str, Any]) -> Response:
        """views.open: a modal for a trigger_id at most 3 s old (its first part: when it was issued, in ms)."""
        trigger, view = str(args.get("trigger_id") or ""), args.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return json_response({"ok": False, "error": "invalid_arguments"})
        issued = trigger.split(".")[0]
        if not issued.isdigit():
            return json_response({"ok": False, "error": "invalid_trigger_id"})
        if self.strict and time.time() - int(issued) / 1000 > TRIGGER_ID_TTL_S:
            return json_response({"ok": False, "error": "expired_trigger_id"})
        return json_response({"ok": True, "view": {"id": f"V{secrets.token_hex(5).upper()}", **view}})

    def _publish_view(self, args: dict[str, Any]) -> Response:
        """views.publish: a Home tab view for one user, checked as Slack checks it (type home, <= 100 blocks)."""
        user, view = str(args.get("user_id") or ""), args.get("view")
        if not user:
            return json_response({"ok": False, "error": "invalid_arguments"})
        if not isinstance(view, dict) or view.get("type") != "home" or not isinstance(view.get("blocks"), list):
            return json_response({"ok": False, "error": "invalid_arguments"})
        if len(view["blocks"]) > MAX_HOME_BLOCKS:
            return json_response({"ok": False, "error": "invalid_blocks"})
        with self._lock:
            self._views.append((user, view))
            self._lock.notify_all()
        return json_response({"ok": True, "view": {"id": f"V{len(self._views):08d}", "type": "home", **view}})

    def _history(self, channel: str, limit: int, *, thread: str | None = None) -> Response:
        """The channel's messages as they are now (each chat.update applied), newest first, like Slack's; with
        `thread` (conversations.replies), that thread's parent and replies, else the messages not in a thread."""
        if not channel or thread == "":
            return json_response({"ok": False, "error": "channel_not_found" if not channel else "thread_not_found"})
        current: dict[str, dict[str, Any]] = {}
        with self._lock:
            for record in self._messages:
                edits = record.kind == "chat.update" and record.ts in current
                if record.channel == channel and record.ts and (record.kind == "chat.postMessage" or edits):
                    parent = str(record.payload.get("thread_ts") or "") if record.kind == "chat.postMessage" else ""
                    if edits or (parent == thread if thread is not None else not parent) or record.ts == thread:
                        current[record.ts] = record.payload
        newest = sorted(current, key=float, reverse=True)[: max(1, min(limit, 1000))]
        found = [
            {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": ts,
                **{k: v for k, v in current[ts].items() if k in ("text", "blocks", "metadata")},
            }
            for ts in newest
        ]
        return json_response({"ok": True, "messages": found, "has_more": len(current) > len(newest)})

    def _next_ts(self) -> str:
        with self._lock:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def _record(self, kind: Kind, payload: dict[str, Any], **where: str | None) -> MessageRecord:
        with self._lock:
            record = MessageRecord(seq=next(self._seq), kind=kind, payload=payload, received_at=time.time(), **where)
            self._messages.append(record)
            self._lock.notify_all()
        if self.echo:
            out = self._out or sys.stdout
            print(format_record(record), file=out, flush=True)
        return record

    def _log_call(self, path: str, status: int, error: str | None, *, faulted: bool = False) -> None:
        with self._lock:
            self._calls.append(
                CallRecord(
                    seq=next(self._call_seq),
                    path=path,
                    status=status,
                    error=error,
                    faulted=faulted,
                    received_at=time.time(),
                )
            )


def _matches(record: MessageRecord, key: str | None, channel: str | None, job: str | None) -> bool:
    if key is None and channel is None and job is None:
        return True
    return bool(
        (key is not None and record.key == key)
        or (channel is not None and record.channel == channel)
        or (job is not None and record.job_id is not None and record.job_id.startswith(job))
    )


def _error_of(response: Response) -> str | None:
    """The `error` of a Web API answer or the text of a failed response_url answer."""
    if response.status >= 400:
        return response.body.decode(errors="replace")
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = json.loads(response.body)
        if isinstance(body, dict) and body.get("ok") is False:
            return str(body.get("error"))
    return None
