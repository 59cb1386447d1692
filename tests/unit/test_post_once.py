"""A job's message through chat.postMessage (no client token) reaches the channel once: a retry that finds the
step's reply intent (`again`: an earlier attempt may have posted it, its answer lost) looks for the step's mark in
the channel's history (the thread's replies for a threaded request) first. Found: that is the message. Not there:
posted. The channel unreadable (a scope, a channel the bot is not in) or the mark possibly past the page read:
posted, saying it may be a second copy (an answer missing is worse than one shown twice). A rate limit on the look
raises (the job is deferred by its Retry-After), nothing posted. A first attempt never looks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from shared.blockkit import SlackMessage, section_block
from shared.jobs import ProgressHandle, ReplyTarget, Requester, utcnow
from worker_function.reply import SlackReplier
from worker_function.slack_errors import refusal_of

#: Issued an hour ago: its response_url is past its 30 minutes, so every answer goes through chat.postMessage.
JOB = ReplyTarget(
    job_id="0123456789abcdef",
    command="/ops-migrate",
    text="payment",
    requester=Requester(user_id="U1", team_id="T1", channel_id="C1"),
    response_url="https://hooks.slack.com/commands/T1/1/abc",
    issued_at=utcnow() - timedelta(hours=1),
)
EXPIRED = SlackMessage(text=":hourglass: expired", blocks=[section_block(":hourglass: expired")])


def refusal(method: str, error: str, status: int = 200, headers: dict[str, str] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url=f"https://slack.com/api/{method}",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError(error, response)


class Slack:
    """The Web API as Slack keeps it: posts land in their channel (or thread), history reads them back newest
    first; `lost` posts are taken and answered 503; `history_error` refuses the look."""

    pool = None

    def __init__(self, *, lost: int = 0, history_error: SlackApiError | None = None, page: int = 100) -> None:
        self.messages: list[dict[str, Any]] = []
        self.posts = self.looks = 0
        self.lost, self.history_error, self.page = lost, history_error, page
        self.read_threads: list[str] = []

    def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.posts += 1
        ts = f"1.{len(self.messages):06d}"
        self.messages.append({"ts": ts, **kwargs})
        if self.lost:
            self.lost -= 1
            raise refusal("chat.postMessage", "fatal_error", 503)
        return {"ok": True, "channel": kwargs["channel"], "ts": ts}

    def _read(self, channel: str, thread: str | None, limit: int) -> dict[str, Any]:
        self.looks += 1
        if self.history_error is not None:
            raise self.history_error
        found = [
            m
            for m in self.messages
            if m["channel"] == channel and (m.get("thread_ts") == thread if thread else not m.get("thread_ts"))
        ][::-1]
        shown = found[: min(limit, self.page)]
        return {"ok": True, "messages": shown, "has_more": len(found) > len(shown)}

    def conversations_history(self, *, channel: str, limit: int = 100, **_: Any) -> dict[str, Any]:
        return self._read(channel, None, limit)

    def conversations_replies(self, *, channel: str, ts: str, limit: int = 100, **_: Any) -> dict[str, Any]:
        self.read_threads.append(ts)
        return self._read(channel, ts, limit)

    def in_channel(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["channel"] == "C1"]


def replier(slack: Slack) -> SlackReplier:
    return SlackReplier(slack)  # type: ignore[arg-type]


def deliver_twice(slack: Slack, job: ReplyTarget = JOB) -> str:
    """The first attempt (Slack takes the post and answers 503), then the retry, which finds the step's intent."""
    with pytest.raises(Exception):  # noqa: B017 - the attempt fails: SQS delivers the job again
        replier(slack).send(job, EXPIRED)
    return replier(slack).send(job, EXPIRED, again=True)


def test_a_post_slack_took_but_answered_503_is_found_by_the_retry_and_not_posted_again():
    """Chaos seeds 513 and 603: an approval's expiry an hour on was posted twice."""
    slack = Slack(lost=1)

    route = deliver_twice(slack)

    assert route == "channel"
    assert slack.posts == 1 and len(slack.in_channel()) == 1  # before: 2
    assert slack.looks == 1


def test_a_retry_whose_earlier_attempt_posted_nothing_posts_once_without_a_note():
    slack = Slack()

    replier(slack).send(JOB, EXPIRED, again=True)

    [posted] = slack.in_channel()
    assert posted["blocks"] == EXPIRED.blocks
    assert posted["metadata"]["event_payload"]["post"] == f"{JOB.job_id}:0"


def test_a_first_attempt_never_reads_the_channel():
    """conversations.history is about one call a minute for apps not on the Marketplace: never on every post."""
    slack = Slack()

    replier(slack).send(JOB, EXPIRED)

    assert slack.looks == 0 and slack.posts == 1


@pytest.mark.parametrize("error", ["missing_scope", "not_in_channel", "channel_not_found"])
def test_a_channel_that_cannot_be_read_gets_the_message_once_more_saying_it_may_be_a_second_copy(error):
    slack = Slack(lost=1, history_error=refusal("conversations.history", error))

    deliver_twice(slack)

    first, second = slack.in_channel()
    assert "may have shown an earlier copy" not in str(first["blocks"])
    assert f"the channel could not be read to check (`{error}`)" in str(second["blocks"][-1])
    assert second["blocks"][: len(EXPIRED.blocks)] == EXPIRED.blocks


def test_a_mark_that_may_be_past_the_page_read_is_posted_saying_so():
    """Slack gives an app not on the Marketplace a few messages a page: a busy channel may hide the earlier post."""
    slack = Slack(lost=1, page=1)
    with pytest.raises(Exception):  # noqa: B017
        replier(slack).send(JOB, EXPIRED)
    slack.messages.append({"ts": "2.0", "channel": "C1", "text": "someone else"})  # newer than the lost post

    replier(slack).send(JOB, EXPIRED, again=True)

    assert len(slack.in_channel()) == 3 and "not among the latest messages" in str(slack.in_channel()[-1]["blocks"])


def test_a_rate_limited_look_posts_nothing_and_defers_the_job():
    slack = Slack(lost=1, history_error=refusal("conversations.history", "ratelimited", 429, {"Retry-After": "60"}))

    with pytest.raises(SlackApiError) as raised:
        deliver_twice(slack)

    assert slack.posts == 1
    found = refusal_of(raised.value)
    assert found is not None and found.rate_limited and found.retry_after == 60


def test_a_threaded_request_is_looked_for_among_its_threads_replies():
    slack = Slack(lost=1)
    job = JOB.model_copy(update={"requester": JOB.requester.model_copy(update={"thread_ts": "9.000001"})})

    deliver_twice(slack, job)

    assert slack.posts == 1 and slack.read_threads == ["9.000001"]


def test_a_long_jobs_channel_message_slack_took_but_answered_503_is_found_and_then_updated():
    slack = Slack(lost=1)
    progress = SlackMessage(text="step 1", final=False)

    with pytest.raises(Exception):  # noqa: B017
        replier(slack).publish(JOB, progress, None)
    handle = replier(slack).publish(JOB, progress, None, again=True)

    assert isinstance(handle, ProgressHandle) and handle.ts == "1.000000" and handle.channel == "C1"
    assert slack.posts == 1
