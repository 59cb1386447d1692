"""The chaos checker on hand-written histories: a clean one passes, and each kind of violation is caught and shown
with the events that prove it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chaos.checker import KINDS, check, ending
from tests.chaos.history import History

DONE = ":white_check_mark: Restart of `checkout` completed: 2/2 running"
BUSY = ":no_entry: `checkout` is busy: `/ops-restart checkout` by <@U0DANA> since 14:02 UTC (job `{short}`)."


class Story:
    """A history written by hand, with the clock moved by each call's `at`."""

    def __init__(self, **meta: Any) -> None:
        self.h = History()
        self.h.add(
            "meta",
            0,
            approvers=["U0DANA"],
            freeze_overriders={"prod": ["U0DANA"]},
            environments={"checkout": "staging", "payment": "prod"},
            skew_s=1.0,
            **meta,
        )

    def ask(self, job: str, line: str, at: float = 0, *, user: str = "U0DEV", outcome: str = "queued", **extra: Any):
        name, _, text = line.partition(" ")
        self.h.add(
            "request",
            at,
            job=job,
            target=text.split(" ")[0],
            user=user,
            line=line,
            command=name,
            mutating=name != "/ops-status",
        )
        self.h.add("ack", at, job=job, outcome=outcome, text="queued", **extra)

    def deliver(self, job: str, at: float, **data: Any) -> None:
        self.h.add("delivery", at, job=job, **{"worker": 0, "outcome": "ok", **data})

    def effect(self, job: str, what: str, target: str, at: float) -> None:
        self.h.add("effect", at, job=job, target=target, what=what, worker=0)

    def final(self, job: str, text: str, at: float, *, key: str | None = None, replace: bool = False) -> None:
        self.h.add(
            "message",
            at,
            job=job,
            kind="response_url",
            key=key or job,
            ts="",
            final=True,
            replace=replace,
            channel="",
            to="requester",
            text=text,
        )

    def lease(self, target: str, op: str, at: float, owner: str, expires_at: float = 0, **flags: Any) -> None:
        self.h.add("lease", at, target=target, op=op, owner=owner, expires_at=expires_at, **flags)

    def kinds(self) -> list[str]:
        return sorted(v.kind for v in check(self.h))


def restart(story: Story, job: str, at: float, *, target: str = "checkout") -> None:
    story.ask(job, f"/ops-restart {target}", at)
    story.deliver(job, at + 1)
    story.effect(job, "ecs.restart", target, at + 1)
    story.final(job, DONE.replace("checkout", target), at + 2)


def test_a_clean_history_has_no_violation():
    story = Story()
    restart(story, "a" * 32, 0)
    restart(story, "b" * 32, 10)
    story.ask("c" * 32, "/ops-status payment", 20)
    story.final("c" * 32, "*Status of `payment`*", 21)
    assert check(story.h) == []


def test_a_job_never_told_is_lost():
    story = Story()
    story.ask("a" * 32, "/ops-restart checkout", 0)
    story.deliver("a" * 32, 1, outcome="killed")
    [violation] = check(story.h)
    assert violation.kind == "lost"
    shown = violation.render(story.h)
    assert "/ops-restart checkout" in shown and "outcome=killed" in shown


def test_two_final_messages_are_caught_but_a_replacement_is_one():
    story = Story()
    restart(story, "a" * 32, 0)
    story.final("a" * 32, DONE, 3, replace=True)  # the same message, replaced: still one
    assert check(story.h) == []
    story.final("a" * 32, DONE, 4, key="elsewhere")
    assert story.kinds() == ["two_finals"]


def test_cancelled_and_completed_for_one_job_contradict():
    story = Story()
    restart(story, "a" * 32, 0)
    story.final(
        "a" * 32, ":heavy_multiplication_x: `/ops-restart checkout` was cancelled by <@U0DEV>.", 5, replace=True
    )
    assert story.kinds() == ["contradiction"]


def test_a_side_effect_twice_is_caught():
    story = Story()
    restart(story, "a" * 32, 0)
    story.effect("a" * 32, "ecs.restart", "checkout", 2)
    [violation] = check(story.h)
    assert violation.kind == "effect_twice" and "2 times" in violation.detail
    assert violation.render(story.h).count("what=ecs.restart") == 2


def test_success_told_without_the_side_effect_is_caught():
    story = Story()
    story.ask("a" * 32, "/ops-restart checkout", 0)
    story.final("a" * 32, DONE, 2)
    assert story.kinds() == ["success_without_effect"]


def test_a_scale_to_the_count_the_service_has_is_a_success_with_nothing_to_change():
    """Chaos seed 512: `/ops-scale checkout 3` right after another one set 3: no UpdateService was needed, and the
    job truly said "3 → 3 tasks"; the checker called it a success without its effect."""
    story = Story()
    story.ask("a" * 32, "/ops-scale checkout 3", 0)
    story.final(
        "a" * 32, ":white_check_mark: Scale of `checkout` completed (cluster `c`): 3 \u2192 3 tasks, 3/3 running", 2
    )
    assert story.kinds() == []
    story.ask("b" * 32, "/ops-scale checkout 4", 3)
    story.final(
        "b" * 32, ":white_check_mark: Scale of `checkout` completed (cluster `c`): 3 \u2192 4 tasks, 4/4 running", 5
    )
    assert story.kinds() == ["success_without_effect"]


def test_two_mutating_jobs_on_one_target_at_once_are_caught():
    story = Story()
    story.ask("a" * 32, "/ops-migrate payment 1", 0)
    story.effect("a" * 32, "codebuild.start", "payment", 1)
    restart(story, "b" * 32, 5, target="payment")  # while the migration still runs
    story.final("a" * 32, ":white_check_mark: Migration of `payment` succeeded", 60)
    [violation] = check(story.h)
    assert violation.kind == "concurrent_mutations" and violation.job == "b" * 32
    restart(story, "c" * 32, 100, target="payment")  # after it ended: fine
    assert story.kinds() == ["concurrent_mutations"]


def test_a_job_whose_lease_is_released_is_off_its_target_before_its_answer():
    """Its operation done and its lease released, a job may still be telling its requester (a kill between): the
    next job on the target is not "at once" with it."""
    story = Story()
    story.ask("a" * 32, "/ops-restart payment", 0)
    story.effect("a" * 32, "ecs.restart", "payment", 1)
    story.lease("payment", "released", 30, "a" * 32)
    restart(story, "b" * 32, 31, target="payment")
    story.final("a" * 32, DONE, 60)
    assert check(story.h) == []


def test_a_refusal_by_an_ended_jobs_lease_past_its_ttl_is_caught():
    story = Story()
    a, b = "a1b2c3d4" + "0" * 24, "b" * 32
    story.lease("checkout", "taken", 0, a, expires_at=300)
    restart(story, a, 0)
    story.ask(b, "/ops-restart checkout", 100)
    story.final(b, BUSY.format(short=a[:8]), 101)  # within the TTL: the release was lost, tolerated
    assert check(story.h) == []
    story.ask("c" * 32, "/ops-restart checkout", 400)
    story.final("c" * 32, BUSY.format(short=a[:8]), 401)
    [violation] = check(story.h)
    assert violation.kind == "lease_past_ttl" and violation.job == "c" * 32


def test_a_side_effect_under_a_lock_or_a_freeze_is_caught_unless_the_freeze_lets_its_requester_through():
    story = Story()
    story.lease("checkout", "taken", 0, "lock:" + "l" * 32, expires_at=9999, lock=True)
    restart(story, "a" * 32, 10)
    assert story.kinds() == ["hold_bypassed"]

    story = Story()
    story.lease("freeze#prod", "taken", 0, "f" * 32, expires_at=9999, freeze=True)
    restart(story, "a" * 32, 10, target="checkout")  # staging: not frozen
    assert check(story.h) == []
    story.ask("b" * 32, "/ops-restart payment", 20, user="U0DANA")  # an overrider
    story.effect("b" * 32, "ecs.restart", "payment", 21)
    story.final("b" * 32, DONE, 22)
    assert check(story.h) == []
    restart(story, "c" * 32, 30, target="payment")
    assert story.kinds() == ["hold_bypassed"]
    story.lease("freeze#prod", "taken", 35, "g" * 32, expires_at=9999, freeze=True)  # a second freeze replaces it
    story.lease("freeze#prod", "taken", 40, "g" * 32, expires_at=9999, freeze=True, lifted=True)  # lifted
    restart(story, "d" * 32, 50, target="payment")
    assert story.kinds() == ["hold_bypassed"]


@pytest.mark.parametrize(
    ("approved_by", "claimed_at", "kind"),
    [
        (None, 10, "approval_bypassed"),
        ("U0ALEX", 10, "self_approved"),
        ("U0EVE", 10, "approved_by_non_approver"),
        ("U0DANA", 3700, "approved_after_expiry"),
        ("U0DANA", 10, None),
    ],
)
def test_approvals_are_never_bypassed_self_given_by_others_or_late(approved_by, claimed_at, kind):
    story = Story()
    job = "a" * 32
    story.ask(job, "/ops-migrate payment 2024.07.0", 0, user="U0ALEX", outcome="approval", expires_at=3600)
    story.deliver(job, claimed_at, **({"approved_by": approved_by} if approved_by else {}))
    story.effect(job, "codebuild.start", "payment", claimed_at)
    story.final(job, ":white_check_mark: Migration of `payment` succeeded", claimed_at + 60)
    assert story.kinds() == ([kind] if kind else [])


def test_a_confirmation_is_never_bypassed():
    story = Story()
    job = "a" * 32
    story.ask(job, "/ops-scale checkout 3", 0, outcome="prompt")
    story.deliver(job, 5)
    story.effect(job, "ecs.scale", "checkout", 5)
    story.final(job, ":white_check_mark: Scaled `checkout` to 3", 6)
    assert story.kinds() == ["confirmation_bypassed"]


def test_every_kind_has_a_test_here():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    assert [k for k in KINDS if f'"{k}"' not in source] == []


def test_endings_are_read_from_the_final_text():
    assert ending(DONE) == "succeeded"
    assert ending(":heavy_multiplication_x: `/ops-scale checkout 3` was cancelled. Nothing was run.") == "cancelled"
    assert ending(BUSY.format(short="12345678")) == "refused"
    refusal = ":no_entry: You may not cancel job `686be9cf`: it is <@U0ALEX>'s, and only they or cancelled-by ..."
    assert ending(refusal) == "refused"
    assert ending(":x: `/ops-restart payment` failed after 3 attempts: ...") == "dead_lettered"
