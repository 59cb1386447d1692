"""Posting a job's messages back to the requester, choosing response_url or the Web API."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from shared.blockkit import SlackMessage, context_block, escape
from shared.jobs import ProgressHandle, ReplyTarget, utcnow
from shared.settings import RESPONSE_URL_MAX_USES, RESPONSE_URL_TTL_SECONDS
from worker_function.clients import SLACK_TIMEOUT, slack_retry_handlers
from worker_function.effects import not_sent
from worker_function.errors import SlackAnswerLostError, SlackDeliveryError
from worker_function.slack_history import MARK_KEY, Lookup, find_own, metadata_marks
from worker_function.slack_http import ConnectionPool, PooledWebhookClient

logger = logging.getLogger(__name__)

#: Slack's response_url hosts. Anything else could make the worker post a job's output elsewhere.
SLACK_RESPONSE_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Where a bot that is not in the channel cannot post; the requester gets a direct message instead.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
#: A progress message whose headline did not change is sent again only this often (elapsed time in its
#: footer), which keeps a long job far below Slack's ~1 message/s per channel and saves response_url uses.
PROGRESS_HEARTBEAT_S = 600


#: What Slack answers for a message it will not show as built (a block over a limit, too long, a bad field):
#: the same message is sent again as plain text, so the requester is never left without an answer.
CONTENT_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_arguments"})


def safe_response_url(url: str, *, local_mode: bool) -> str | None:
    """The response_url rebuilt from its parsed parts when it is https on one of Slack's hosts, port 443 or
    none, without userinfo, backslash, whitespace or control characters (local mode: also http(s) on
    loopback); else None. The caller sends the rebuilt URL, so what is sent is exactly what was checked."""
    if "\\" in url or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, a bad IPv6 literal
        return None
    if "@" in parts.netloc or parts.hostname is None:
        return None
    host = parts.hostname
    slack = parts.scheme == "https" and host in SLACK_RESPONSE_HOSTS and port in (None, 443)
    loopback = local_mode and parts.scheme in ("http", "https") and host in LOOPBACK_HOSTS
    if not (slack or loopback):
        return None
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def response_url_allowed(url: str, *, local_mode: bool) -> bool:
    """https on Slack's hooks hosts (see `safe_response_url`); in local mode, also http(s) on loopback."""
    return safe_response_url(url, local_mode=local_mode) is not None


def fallback_for(job: ReplyTarget, message: SlackMessage, error: str) -> SlackMessage:
    """The message as plain text, saying what happened and where the rest is (the worker's log, by job id)."""
    logger.warning("job %s: Slack refused the message (%s); its full text: %s", job.job_id, error, message.text)
    return message.plain_fallback(
        f"Slack could not show this message as built ({error}), so here it is as plain text, perhaps cut short. "
        f"The full text is in the worker's log under job {job.short_id}; `/ops-audit` shows the target's history."
    )


def mark_of(job: ReplyTarget) -> str:
    """The mark in the metadata of a job step's message: how a retry finds that step's post (`slack_history`)."""
    return f"{job.job_id}:{getattr(job, 'step', 0)}"


def _metadata(job: ReplyTarget, message: SlackMessage) -> dict[str, Any]:
    job_id = message.about_job or job.job_id
    payload = {"job_id": job_id, "final": message.final, MARK_KEY: mark_of(job)}
    return {"event_type": "opsbot_job", "event_payload": payload}


def maybe_repeated(message: SlackMessage, found: Lookup) -> SlackMessage:
    """The message with a line saying it may be a second copy: an earlier post of it may have reached Slack (its
    answer was lost) and the channel could not be checked for it (`found`: Slack refused to let it be read, or
    the page read did not reach that far back). Not posting would leave the requester without it."""
    if found.unreadable:
        why = f"the channel could not be read to check (`{escape(found.unreadable)}`)"
    else:
        why = "it was not among the latest messages Slack let opsbot read"
    note = (
        f"_Slack may have shown an earlier copy of this message without confirming it, and {why}: "
        "if it shows twice, both are the same answer._"
    )
    return SlackMessage(  # built anew: bounded to Slack's limits again
        text=message.text if message.blocks else f"{message.text}\n\n{note}",
        blocks=[*message.blocks, context_block(note)] if message.blocks else [],
        response_type=message.response_type,
        final=message.final,
        about_job=message.about_job,
    )


def stands(counted: tuple[int, int] | None) -> bool:
    """Whether a message told `used_url` was shown by an earlier send of it: one was made (counted), and fewer than
    5 sends of other messages were, so at least one of its own took a use (a use is a message Slack took)."""
    return counted is not None and counted[0] > 1 and counted[1] < RESPONSE_URL_MAX_USES


class UncountedError(Exception):
    """A send through the response_url could not be counted first (`store.url_sends`)."""


class SlackReplier:
    """response_url while it lasts (30 min); then chat.postMessage; a direct message if the bot
    cannot post in the channel. Both clients retry 429 (Retry-After) and 5xx a bounded number of times."""

    def __init__(
        self,
        web_client: WebClient,
        *,
        local_mode: bool = False,
        max_retries: int = 2,
        now: Callable[[], datetime] = utcnow,
        webhook: Callable[[str], WebhookClient] | None = None,
        url_sends: Callable[[str, str], tuple[int, int]] | None = None,
    ) -> None:
        self._web = web_client
        self._webhook = webhook or self._webhook_client
        #: response_url calls reuse connections too: the Web API client's pool, or one of their own.
        self._pool = getattr(web_client, "pool", None) or ConnectionPool()
        self._local_mode = local_mode
        self._max_retries = max_retries
        self._now = now
        #: Counts a send through a response_url before it is made (`store.url_sends`): (url, mark) -> the sends of
        #: this message (this one included) and of other messages through it. Without it, a used-up response_url
        #: always answers in the channel.
        self._url_sends = url_sends

    def send(
        self,
        job: ReplyTarget,
        message: SlackMessage,
        *,
        replace_original: bool = False,
        again: bool = False,
        last_word: bool = False,
    ) -> str:
        """Deliver the message; return the route used ("response_url", "channel", "dm"). `replace_original`:
        it replaces the message the response_url belongs to (a confirmation prompt, the job's last message).
        `again`: an earlier attempt may have delivered this same message, so through the response_url it replaces
        that copy instead of adding one. `last_word`: no retry follows (a job given up), so a response_url answer
        that may have arrived is followed by a channel post: a copy that may be a second one rather than none."""
        replace = replace_original or again
        usable = self.response_url_usable(job)
        try:
            if usable and self._send_response_url(
                job, message, replace_original=replace, again=again, last_word=last_word
            ):
                return "response_url"
        except UncountedError as exc:  # the last word: in the channel rather than an uncounted send
            logger.warning(
                "job %s: the last word's send could not be counted (%s); posted in the channel", job.job_id, exc
            )
        except SlackAnswerLostError as exc:
            if not last_word:
                raise
            logger.warning("job %s: the last word's response_url failed (%s); posted in the channel", job.job_id, exc)
        return self._post(job, message, again=again)[0]

    def publish(
        self,
        job: ReplyTarget,
        message: SlackMessage,
        handle: ProgressHandle | None,
        *,
        again: bool = False,
        replace_first: bool = False,
    ) -> ProgressHandle:
        """One message per long job, updated in place: the response_url with `replace_original` while it
        lasts (5 uses within 30 minutes), then one channel message edited with chat.update. A progress
        message whose text did not change is not sent again (Slack: ~1 message/s per channel).
        `replace_first`: the response_url belongs to a message the job's first message replaces (the picker
        it was chosen from), so every message of the job is that one message. Returns where it now is."""
        handle = handle or ProgressHandle()
        now = self._now()
        digest = hashlib.sha256(message.text.encode()).hexdigest()[:16]
        fresh = handle.sent_at is not None and (now - handle.sent_at).total_seconds() < PROGRESS_HEARTBEAT_S
        if not message.final and digest == handle.last_digest and fresh:
            return handle
        handle = handle.model_copy(update={"sent_at": now})
        if handle.ts is None and handle.response_url_uses < RESPONSE_URL_MAX_USES and self.response_url_usable(job):
            replace = handle.response_url_uses > 0 or again or replace_first
            if self._send_response_url(job, message, replace_original=replace, again=again):
                return handle.model_copy(
                    update={"response_url_uses": handle.response_url_uses + 1, "last_digest": digest}
                )
        if handle.ts is not None and handle.channel is not None and self._update(job, message, handle):
            return handle.model_copy(update={"last_digest": digest})
        _, channel, ts = self._post(job, message, again=again)
        return handle.model_copy(update={"channel": channel, "ts": ts, "last_digest": digest})

    def _update(self, job: ReplyTarget, message: SlackMessage, handle: ProgressHandle) -> bool:
        error = self._try_update(job, message, handle)
        if error in CONTENT_ERRORS:
            error = self._try_update(job, fallback_for(job, message, error), handle)
        if error is None:
            return True
        logger.warning("job %s: chat.update failed (%s); posting anew", job.job_id, error)
        return False

    def _try_update(self, job: ReplyTarget, message: SlackMessage, handle: ProgressHandle) -> str | None:
        """None when Slack took it, else its error."""
        assert handle.channel is not None and handle.ts is not None
        try:
            self._web.chat_update(
                channel=handle.channel,
                ts=handle.ts,
                text=message.text,
                blocks=message.blocks or None,
                metadata=_metadata(job, message),
            )
            return None
        except SlackApiError as exc:
            return str(exc.response.get("error"))

    def response_url_usable(self, job: ReplyTarget) -> bool:
        """Whether the job's response_url may be used now: Slack's host, within its 30 minutes."""
        if not job.response_url:
            return False
        if safe_response_url(job.response_url, local_mode=self._local_mode) is None:
            logger.warning("job %s: response_url on a host that is not Slack's; not used", job.job_id)
            return False
        age = (self._now() - job.issued_at).total_seconds()
        return age < RESPONSE_URL_TTL_SECONDS

    def _webhook_client(self, url: str) -> WebhookClient:
        return PooledWebhookClient(
            url, timeout=SLACK_TIMEOUT, retry_handlers=slack_retry_handlers(self._max_retries), pool=self._pool
        )

    def _counted(self, job: ReplyTarget, url: str, *, last_word: bool) -> tuple[int, int] | None:
        """Count this send before it is made: the sends of this message (this one included) and of other messages
        through the url (None: not counted).
        The last word is a message of its own (it may follow the step's own message through the same url)."""
        if self._url_sends is None:
            return None
        try:
            return self._url_sends(url, f"{mark_of(job)}{':last' if last_word else ''}")
        except Exception as exc:
            if last_word:
                raise UncountedError(str(exc)) from exc
            raise

    def _send_response_url(
        self,
        job: ReplyTarget,
        message: SlackMessage,
        *,
        replace_original: bool = False,
        again: bool = False,
        last_word: bool = False,
    ) -> bool:
        """True when the response_url took it; False to post it through chat.postMessage instead, only when Slack
        certainly has no copy through it: this call was refused before it was sent, or answered 4xx (expired,
        used up), and no earlier attempt may have delivered it (not `again`). An answer that may have arrived (a
        5xx, a timeout or a reset after sending) raises `SlackAnswerLostError`: the job's retry replaces that copy
        through the response_url, never adds one in the channel (one final answer). So does a retry whose
        response_url is refused before sending: an earlier attempt's copy may stand there. A response_url used up
        (`used_url`) answers in the channel, unless fewer than 5 sends of other messages through it were counted
        (`store.url_sends`): then an earlier send of this message took a use, so it stands there (a use is a message
        Slack took) and a channel post would be a second copy. Otherwise the uses do not say which messages Slack
        showed, and an answer missing is worse than one shown twice."""
        url = safe_response_url(job.response_url or "", local_mode=self._local_mode)
        assert url is not None
        counted = self._counted(job, url, last_word=last_word)
        webhook = self._webhook(url)
        body = {**message.ack_body(), "replace_original": replace_original, "metadata": _metadata(job, message)}
        try:
            response = webhook.send_dict(body)
            refused = (response.body or "").strip()
            if response.status_code != 200 and refused in CONTENT_ERRORS:
                plain = fallback_for(job, message, refused)
                body = {**plain.ack_body(), "replace_original": replace_original, "metadata": _metadata(job, plain)}
                response = webhook.send_dict(body)
        except Exception as exc:
            if not not_sent(exc):  # a timeout after sending: it may have arrived, so it is sent again, replacing
                raise SlackAnswerLostError(f"response_url did not answer; the message may have arrived: {exc}") from exc
            if again:  # an earlier attempt's copy may stand there: the retry replaces it, not a channel post
                raise SlackAnswerLostError(
                    f"response_url refused, after an attempt that may have arrived: {exc}"
                ) from exc
            logger.warning("job %s: response_url refused (%s); falling back to chat.postMessage", job.job_id, exc)
            return False
        if response.status_code == 200:
            return True
        if (response.body or "").strip() == "used_url" and stands(counted):
            logger.warning(
                "job %s: response_url used up with %d sends of other messages: an earlier send of this one took a "
                "use, so it stands there; not posted again",
                job.job_id,
                counted[1] if counted else None,
            )
            return True
        if response.status_code >= 500:  # Slack may have posted it: replaced through it later, never posted twice
            raise SlackAnswerLostError(f"response_url answered {response.status_code}; the message may have arrived")
        logger.warning(
            "job %s: response_url answered %s %s; falling back to chat.postMessage",
            job.job_id,
            response.status_code,
            response.body,
        )
        return False

    def _post(
        self, job: ReplyTarget, message: SlackMessage, *, again: bool = False
    ) -> tuple[str, str | None, str | None]:
        """Post in the channel (or a DM); return the route, the channel and the message's ts. `again`: an earlier
        attempt may have posted it (chat.postMessage has no client token; its answer may have been lost), so the
        channel (or thread) is looked at first for the step's mark (`slack_history`): found, it is that message;
        not there, it is posted; the channel unreadable (a scope, a channel the bot is not in), it is posted
        saying it may be a second copy. A rate limit or Slack's trouble on the look raises: the retry looks again."""
        channel = job.requester.channel_id
        if again:
            found = find_own(self._web, channel, metadata_marks(mark_of(job)), thread_ts=job.requester.thread_ts)
            if found.ts is not None:
                logger.info("job %s: its earlier post is in %s (%s): not posted again", job.job_id, channel, found.ts)
                return "channel", channel, found.ts
            if not found.certain_absent:
                logger.warning(
                    "job %s: an earlier post may be in %s, which cannot be checked: posted, saying so",
                    job.job_id,
                    channel,
                )
                message = maybe_repeated(message, found)
        kwargs: dict[str, Any] = {
            "text": message.text,
            "blocks": message.blocks or None,
            "metadata": _metadata(job, message),
        }
        try:
            try:
                posted = self._web.chat_postMessage(
                    channel=job.requester.channel_id, thread_ts=job.requester.thread_ts, **kwargs
                )
            except SlackApiError as exc:
                if exc.response.get("error") not in CONTENT_ERRORS:
                    raise
                plain = fallback_for(job, message, str(exc.response.get("error")))
                kwargs = {"text": plain.text, "blocks": None, "metadata": _metadata(job, plain)}
                posted = self._web.chat_postMessage(
                    channel=job.requester.channel_id, thread_ts=job.requester.thread_ts, **kwargs
                )
            return "channel", posted.get("channel"), posted.get("ts")
        except SlackApiError as exc:
            if exc.response.get("error") not in CHANNEL_ERRORS:
                raise SlackDeliveryError(f"chat.postMessage failed: {exc.response.get('error')}") from exc
            logger.warning(
                "job %s: cannot post in %s (%s); sending a DM",
                job.job_id,
                job.requester.channel_id,
                exc.response.get("error"),
            )
        try:
            opened = self._web.conversations_open(users=job.requester.user_id)
            posted = self._web.chat_postMessage(channel=opened["channel"]["id"], **kwargs)
        except SlackApiError as exc:
            raise SlackDeliveryError(f"direct message failed: {exc.response.get('error')}") from exc
        return "dm", posted.get("channel"), posted.get("ts")
