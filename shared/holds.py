"""Locks and freezes as facts: what holds a target (a person's lock) or its environment (a freeze), and until when.

A lock is a manual lease on one target (`/ops-lock payment incident 42`): while it stands no mutating command
runs on that target. A freeze covers a whole environment (`/ops-freeze prod incident 42 --for 2h`): no mutating
command runs on a target of that environment until it ends, except for whom the policy's `override_freeze` rule
admits. The worker's stores read and write them (worker_function/store/leases.py, freezes.py); these are the
plain values every reader shares: the worker's planning, `/ops-jobs`, App Home, a dry run (`hold_on`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: A lock stands until it is lifted, or lapses after this long (the lease's explicit expiry, its DynamoDB TTL).
LOCK_TTL_S = 24 * 3600
#: How long a freeze lasts when `--for` is not given, and the longest `--for` accepted.
FREEZE_DEFAULT_MINUTES = 4 * 60
FREEZE_MAX_MINUTES = 7 * 24 * 60


def moment(epoch: int) -> str:
    """An epoch second as people read it in Slack: `2026-12-01 14:02 UTC`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Lock:
    """A person's lock on a target: who, why, since when, until when it lapses, and the job that took it."""

    target: str
    by: str
    reason: str
    since: int
    until: int
    job_id: str = ""

    def standing(self, now: float) -> bool:
        return self.until > now


@dataclass(frozen=True)
class Freeze:
    """A freeze of an environment: who, why, since when and until when."""

    environment: str
    by: str
    reason: str
    since: int
    until: int
    job_id: str = ""

    def standing(self, now: float) -> bool:
        return self.until > now


Hold = Lock | Freeze


@dataclass(frozen=True)
class Holds:
    """The locks and freezes standing at one moment (what `/ops-jobs` and App Home list)."""

    locks: tuple[Lock, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    #: Whom each target belongs to: a lock is listed by target, a freeze covers the targets of its environment.
    environments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def standing_at(
        cls, now: float, locks: Iterable[Lock], freezes: Iterable[Freeze], environments: dict[str, str] | None = None
    ) -> Holds:
        """Only what still stands at `now` (an expired item may linger until DynamoDB's TTL removes it)."""
        return cls(
            locks=tuple(sorted((lock for lock in locks if lock.standing(now)), key=lambda lock: lock.target)),
            freezes=tuple(sorted((f for f in freezes if f.standing(now)), key=lambda f: f.environment)),
            environments=dict(environments or {}),
        )

    def on(self, target: str, environment: str | None = None) -> Hold | None:
        """`hold_on` for this snapshot; the environment defaults to the target's own."""
        return hold_on(target, environment or self.environments.get(target), self)


def hold_on(target: str, environment: str | None, holds: Holds) -> Hold | None:
    """What keeps a mutating command off `target` (of `environment`): its lock first, else its environment's
    freeze, else None. Pure: give it the standing holds (`Holds.standing_at`)."""
    for lock in holds.locks:
        if lock.target == target:
            return lock
    for freeze in holds.freezes:
        if environment is not None and freeze.environment == environment:
            return freeze
    return None


__all__ = [
    "FREEZE_DEFAULT_MINUTES",
    "FREEZE_MAX_MINUTES",
    "LOCK_TTL_S",
    "Freeze",
    "Hold",
    "Holds",
    "Lock",
    "hold_on",
    "moment",
]
