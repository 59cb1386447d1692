"""The replier's rule for one final answer: a response_url post whose answer says nothing certain (a 5xx, a timeout
or a reset after sending) may have arrived, so it is never followed by a copy in the channel; the job's retry
replaces it through the same response_url. chat.postMessage is the route only when Slack certainly has no copy
through the response_url (refused before sending on a first attempt, a 4xx: expired or used up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from shared.blockkit import SlackMessage
from shared.jobs import ReplyTarget, Requester, utcnow
from worker_function.errors import SlackAnswerLostError, transient
from worker_function.reply import SlackReplier

JOB = ReplyTarget(
    job_id="0123456789abcdef",
    command="/ops-freeze",
    text="staging",
    requester=Requester(user_id="U1", team_id="T1", channel_id="C1"),
    response_url="https://hooks.slack.com/commands/T1/1/abc",
    issued_at=utcnow(),
)
FINAL = SlackMessage(text=":snowflake: `staging` is frozen", final=True)


class Answer:
    def __init__(self, status: int, body: str = "") -> None:
        self.status_code, self.body = status, body


class Hook:
    """A response_url that answers `status`, or raises `error`, and records what it was sent."""

    def __init__(self, status: int = 200, error: BaseException | None = None, body: str = "error") -> None:
        self.status, self.error, self.body = status, error, body
        self.sent: list[dict[str, Any]] = []

    def send_dict(self, body: dict[str, Any]) -> Answer:
        self.sent.append(body)
        if self.error is not None:
            raise self.error
        return Answer(self.status, "" if self.status == 200 else self.body)


class Web:
    """The Web API: records chat.postMessage calls."""

    pool = None

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.posted.append(kwargs)
        return {"ok": True, "channel": kwargs["channel"], "ts": "1.000001"}

    def conversations_history(self, **kwargs: Any) -> dict[str, Any]:
        """What a retry (`again`) reads before posting: the channel's posts, newest first."""
        found = [{"ts": f"1.{i:06d}", **p} for i, p in enumerate(self.posted) if p["channel"] == kwargs["channel"]]
        return {"ok": True, "messages": found[::-1], "has_more": False}


def replier(hook: Hook, web: Web, now: datetime | None = None) -> SlackReplier:
    return SlackReplier(web, webhook=lambda url: hook, now=lambda: now or utcnow())  # type: ignore[arg-type]


@pytest.mark.parametrize("again", [False, True])
@pytest.mark.parametrize(
    "hook",
    [Hook(503), Hook(500), Hook(error=TimeoutError("read timed out")), Hook(error=ConnectionResetError(104, "reset"))],
    ids=["503", "500", "timeout after sending", "reset after sending"],
)
def test_an_answer_that_may_have_arrived_is_never_followed_by_a_channel_post(hook, again):
    web = Web()

    with pytest.raises(SlackAnswerLostError) as raised:
        replier(hook, web).send(JOB, FINAL, again=again)

    assert web.posted == []  # before: a retry (`again`) answered 5xx posted the answer in the channel too
    assert transient(raised.value)  # the last receive puts the job back on the queue instead of giving up
    assert hook.sent[-1]["replace_original"] is again  # a retry replaces the copy that may be there


def test_a_retry_whose_response_url_is_refused_before_sending_does_not_post_beside_an_earlier_copy():
    web = Web()
    hook = Hook(error=ConnectionRefusedError(111, "refused"))

    with pytest.raises(SlackAnswerLostError):
        replier(hook, web).send(JOB, FINAL, again=True)

    assert web.posted == []


def test_a_first_attempt_refused_before_sending_is_posted_in_the_channel_once():
    web = Web()

    route = replier(Hook(error=ConnectionRefusedError(111, "refused")), web).send(JOB, FINAL)

    assert route == "channel" and [p["channel"] for p in web.posted] == ["C1"]


@pytest.mark.parametrize("again", [False, True])
def test_a_response_url_slack_refuses_4xx_falls_back_to_the_channel(again):
    web = Web()

    route = replier(Hook(404, body="expired_url"), web).send(JOB, FINAL, again=again)

    assert route == "channel" and len(web.posted) == 1


@pytest.mark.parametrize("again", [False, True])
def test_a_used_up_response_url_answers_in_the_channel(again):
    """Chaos seed 319: a migration's progress messages and a failed attempt of its final had spent the uses; taking
    `used_url` for "an earlier copy stands" left the requester without the final (the uses were other messages)."""
    web = Web()

    route = replier(Hook(404, body="used_url"), web).send(JOB, FINAL, again=again)

    assert route == "channel" and len(web.posted) == 1


@pytest.mark.parametrize("hook", [Hook(503), Hook(error=ConnectionResetError(104, "reset"))], ids=["503", "reset"])
def test_the_last_word_after_an_answer_that_may_have_arrived_is_posted_in_the_channel(hook):
    """Chaos seed 255: an approval request given up told its requester through a response_url that answered 503;
    no retry follows a give-up, so the requester was never told. The last word goes to the channel then."""
    web = Web()

    route = replier(hook, web).send(JOB, FINAL, replace_original=True, last_word=True)

    assert route == "channel" and len(web.posted) == 1


def test_a_new_message_replacing_the_last_one_on_a_used_up_response_url_goes_to_the_channel():
    """Chaos seed 41 (after the rule above): a regression's progress messages used its response_url up; its give-up
    ("failed after 3 attempts", a message no earlier attempt sent) was taken as delivered and never shown."""
    web = Web()

    route = replier(Hook(404, body="used_url"), web).send(JOB, FINAL, replace_original=True)

    assert route == "channel" and len(web.posted) == 1


class Sends:
    """The count of sends through a response_url (`store.url_sends`), in memory: per message mark and in all."""

    def __init__(self, **earlier: int) -> None:
        self.by_mark: dict[str, int] = dict(earlier)
        self.fail: Exception | None = None

    def count(self, url: str, mark: str) -> tuple[int, int]:
        if self.fail is not None:
            raise self.fail
        self.by_mark[mark] = self.by_mark.get(mark, 0) + 1
        return self.by_mark[mark], sum(self.by_mark.values()) - self.by_mark[mark]


def counted(hook: Hook, web: Web, sends: Sends) -> SlackReplier:
    return SlackReplier(web, webhook=lambda url: hook, url_sends=sends.count)  # type: ignore[arg-type]


MARK = f"{JOB.job_id}:0"


@pytest.mark.parametrize("earlier", [{MARK: 2}, {MARK: 3, "other:0": 2}, {MARK: 1, "other:0": 4}])
def test_a_retry_told_used_url_after_its_own_sends_took_uses_stands_and_is_not_posted_again(earlier):
    """Chaos seed 145: a regression's final went through the response_url twice, Slack took both and answered 503;
    with its progress messages' sends that was the 5 uses, and the retry, told `used_url`, posted the final in the
    channel too: two finals. Fewer than 5 sends of other messages counted: an earlier send of this one took a use,
    so it stands there (replacing the job's message) and is not posted again."""
    web, hook, sends = Web(), Hook(404, body="used_url"), Sends(**earlier)

    route = counted(hook, web, sends).send(JOB, FINAL, replace_original=True, again=True)

    assert route == "response_url" and web.posted == []  # before: posted in the channel beside the copy shown


@pytest.mark.parametrize("earlier", [{}, {"other:0": 5}, {MARK: 2, "other:0": 5}])
def test_a_used_up_response_url_whose_uses_may_all_be_other_messages_answers_in_the_channel(earlier):
    """Seed 319's rule kept: when the other messages' sends could have spent every use (or this is the first send),
    nothing says this message was shown, so it is posted in the channel."""
    web, hook, sends = Web(), Hook(404, body="used_url"), Sends(**earlier)

    route = counted(hook, web, sends).send(JOB, FINAL, replace_original=True, again=True)

    assert route == "channel" and len(web.posted) == 1


def test_the_last_word_is_counted_as_a_message_of_its_own():
    """A give-up follows the step's own message through the same url: the step's sends are other messages to it,
    so five of them leave it in the channel (it was never shown)."""
    web, hook, sends = Web(), Hook(404, body="used_url"), Sends(**{MARK: 5})

    route = counted(hook, web, sends).send(JOB, FINAL, replace_original=True, last_word=True)

    assert route == "channel" and len(web.posted) == 1 and sends.by_mark[f"{MARK}:last"] == 1


def test_a_send_that_cannot_be_counted_is_not_made_except_the_last_word_which_goes_to_the_channel():
    web, hook, sends = Web(), Hook(200), Sends()
    sends.fail = ConnectionResetError(104, "reset")

    with pytest.raises(ConnectionResetError):
        counted(hook, web, sends).send(JOB, FINAL, again=True)
    assert hook.sent == [] and web.posted == []

    route = counted(hook, web, sends).send(JOB, FINAL, replace_original=True, last_word=True)
    assert route == "channel" and hook.sent == [] and len(web.posted) == 1
