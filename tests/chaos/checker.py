"""The invariants a chaos history must keep, and the shortest slice of the history that shows each violation.

`check(events)` reads a history (`tests.chaos.history`) and returns every `Violation` of:

- **ended once, told** (``lost``, ``two_finals``, ``contradiction``): each acknowledged job (a request the ack
  queued, a prompt, an approval request; an alarm) ends with exactly one final message its requester sees (a
  message that replaces another through the same response_url, or a ``chat.update`` of the same ts, takes its
  place), and no two final messages of one job say different endings ("cancelled" and "completed").
- **side effects at most once, exactly once on success** (``effect_twice``, ``success_without_effect``): counted at
  the target, per job and kind; a job told it succeeded made its command's side effect.
- **one mutating job per target** (``concurrent_mutations``): the spans of two jobs' side effects on one target,
  from a job's first side effect to its lease released or its final message (the first of them), never overlap.
- **no lease past its TTL** (``lease_past_ttl``): a job refused as busy is never refused by the lease of a job that
  had ended, once that lease's TTL had passed.
- **locks and freezes hold** (``hold_bypassed``): no side effect on a locked target, or on a target of a frozen
  environment (unless by someone the freeze lets through), while the lock or freeze stands.
- **approvals** (``approval_bypassed``, ``self_approved``, ``approved_by_non_approver``, ``approved_after_expiry``,
  ``confirmation_bypassed``): a job that needs a second person makes a side effect only after a delivery carrying
  an approval by an approver other than the requester, arriving before the request expired; one that needs its
  requester's Confirm only with it.

The clocks of workers differ by up to ``skew_s`` (the history's ``meta``): comparisons of time allow that much.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.history import Event

#: The side effect each mutating command makes at its target (what the history's ``effect`` events name).
EFFECT_OF = {
    "/ops-restart": ("ecs.restart", "ec2.reboot"),
    "/ops-rollback": ("ecs.rollback",),
    "/ops-scale": ("ecs.scale",),
    "/ops-migrate": ("codebuild.start",),
    "/ops-regression": ("codebuild.start",),
    "/ops-build": ("jenkins.build",),
}
#: Side effects that change a target (a build stopped by a cancel does not count as a mutation of its own).
MUTATIONS = ("ecs.restart", "ecs.rollback", "ecs.scale", "codebuild.start", "jenkins.build", "ec2.reboot")

#: A scale to the count the service already has: "3 → 3 tasks" (nothing to change at the target, no call made).
_NO_CHANGE = re.compile(r"\b(\d+) \u2192 \1 tasks\b")

KINDS = (
    "lost",
    "two_finals",
    "contradiction",
    "effect_twice",
    "success_without_effect",
    "concurrent_mutations",
    "lease_past_ttl",
    "hold_bypassed",
    "approval_bypassed",
    "self_approved",
    "approved_by_non_approver",
    "approved_after_expiry",
    "confirmation_bypassed",
)


@dataclass(frozen=True)
class Violation:
    kind: str
    job: str
    detail: str
    #: The events (their `seq`) that together show the violation: the shortest slice of the history.
    events: tuple[int, ...]

    def render(self, history: Iterable[Event]) -> str:
        shown = set(self.events)
        lines = [f"VIOLATION {self.kind} (job {self.job[:8]}): {self.detail}"]
        lines.extend("  " + e.line() for e in history if e.seq in shown)
        return "\n".join(lines)


def ending(text: str) -> str:
    """How a final message says its job ended: succeeded, failed, refused, cancelled, expired, dead_lettered,
    unknowable, or other."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    low = text.lower()
    if "could not tell whether" in low:
        return "unknowable"
    if re.search(r"failed after \d+ attempts", low):
        return "dead_lettered"
    if "before the cancel" in low or "when the cancel reached it" in low:
        return "succeeded"
    if ":no_entry:" in first:  # a refusal may name cancelling ("you may not cancel ...")
        return "refused"
    if "was cancelled" in low or "cancelled by" in low or ":heavy_multiplication_x:" in first:
        return "cancelled"
    if "expired" in low and ("nothing was run" in low or "not run" in low):
        return "expired"
    if ":no_entry:" in first or "was not run" in low or "rejected" in low or "withdrawn" in low:
        return "refused"
    if ":x:" in first or ":warning:" in first or "failed" in first.lower():
        return "failed"
    if ":white_check_mark:" in first or "succeeded" in low or "completed" in low or ":lock:" in first:
        return "succeeded"
    return "other"


@dataclass
class Job:
    id: str
    requester: str = ""
    command: str = ""
    line: str = ""
    mutating: bool = False
    needs: str = ""  # "", "confirm" or "approval"
    acked: Event | None = None
    request: Event | None = None
    approval_expires: float | None = None
    messages: list[Event] = field(default_factory=list)
    effects: list[Event] = field(default_factory=list)
    deliveries: list[Event] = field(default_factory=list)
    target: str = ""

    def finals(self) -> list[Event]:
        """The final messages the requester sees at the end (one replacing another takes its place)."""
        slots: list[Event] = []
        by_key: dict[str, int] = {}
        by_ts: dict[str, int] = {}
        for m in self.messages:
            d = m.data
            if d.get("kind") == "chat.update" and d.get("ts") in by_ts:
                slots[by_ts[d["ts"]]] = m
                continue
            if d.get("kind") == "response_url" and d.get("replace") and d.get("key") in by_key:
                slots[by_key[d["key"]]] = m
                continue
            slots.append(m)
            if d.get("key"):
                by_key[d["key"]] = len(slots) - 1
            if d.get("ts"):
                by_ts[d["ts"]] = len(slots) - 1
        return [m for m in slots if m.data.get("final")]

    def all_finals(self) -> list[Event]:
        return [m for m in self.messages if m.data.get("final")]


def check(events: Iterable[Event]) -> list[Violation]:
    history = sorted(events, key=lambda e: e.seq)
    meta: dict[str, Any] = {}
    for e in history:
        if e.kind == "meta":
            meta.update(e.data)
    skew = float(meta.get("skew_s", 0.0))
    jobs = _jobs(history)
    found: list[Violation] = []
    for job in jobs.values():
        found.extend(_ended_once(job))
        found.extend(_effects_once(job))
        found.extend(_approvals(job, meta, skew))
    found.extend(_one_per_target(jobs, history))
    found.extend(_holds(jobs, history, meta, skew))
    found.extend(_leases(jobs, history, skew))
    return found


def _jobs(history: list[Event]) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    for e in history:
        if e.kind == "request":
            job = jobs.setdefault(e.job, Job(e.job))
            job.request, job.requester, job.line = e, e.data.get("user", ""), e.data.get("line", "")
            job.command, job.mutating = e.data.get("command", ""), bool(e.data.get("mutating"))
            job.target = e.target
        elif e.kind == "ack" and e.job in jobs and jobs[e.job].acked is None:
            outcome = e.data.get("outcome")
            if outcome in ("queued", "prompt", "approval"):
                job = jobs[e.job]
                job.acked = e
                job.needs = {"prompt": "confirm", "approval": "approval"}.get(str(outcome), "")
                if outcome == "approval" and e.data.get("expires_at") is not None:
                    job.approval_expires = float(e.data["expires_at"])
        elif e.kind == "alarm":
            job = jobs.setdefault(e.job, Job(e.job, requester=e.data.get("channel", ""), command="(alarm)"))
            job.acked = e
        elif e.kind == "message" and e.job in jobs and e.data.get("to") == "requester":
            jobs[e.job].messages.append(e)
        elif e.kind == "effect" and e.job:
            jobs.setdefault(e.job, Job(e.job)).effects.append(e)
        elif e.kind == "delivery" and e.job in jobs:
            jobs[e.job].deliveries.append(e)
    return {k: v for k, v in jobs.items() if v.acked is not None or v.effects}


def _ended_once(job: Job) -> list[Violation]:
    if job.acked is None:
        return []
    finals = job.finals()
    if not finals:
        return [
            Violation(
                "lost",
                job.id,
                f"{job.line or job.command} was acknowledged and never told how it ended",
                _seqs(job.request, job.acked, *job.deliveries[-3:]),
            )
        ]
    out = []
    if len(finals) > 1:
        out.append(
            Violation(
                "two_finals",
                job.id,
                f"{len(finals)} final messages: " + " / ".join(_first(m) for m in finals),
                _seqs(job.acked, *finals),
            )
        )
    endings = {ending(str(m.data.get("text", ""))) for m in job.all_finals()} - {"other"}
    if len(endings) > 1 and not endings <= {"failed", "dead_lettered"}:
        out.append(
            Violation(
                "contradiction",
                job.id,
                "final messages say " + " and ".join(sorted(endings)),
                _seqs(job.acked, *job.all_finals()),
            )
        )
    return out


def _effects_once(job: Job) -> list[Violation]:
    out = []
    by_what: dict[str, list[Event]] = defaultdict(list)
    for e in job.effects:
        by_what[str(e.data.get("what"))].append(e)
    for what, made in by_what.items():
        if len(made) > 1:
            out.append(
                Violation(
                    "effect_twice",
                    job.id,
                    f"{what} made {len(made)} times by {job.line or job.id}",
                    _seqs(job.acked, *made),
                )
            )
    finals = job.finals()
    expected = EFFECT_OF.get(job.command)
    succeeded = bool(finals) and ending(str(finals[-1].data.get("text", ""))) == "succeeded"
    no_op = bool(finals) and _NO_CHANGE.search(str(finals[-1].data.get("text", ""))) is not None
    if expected and succeeded and not no_op and not any(what in by_what for what in expected):
        out.append(
            Violation(
                "success_without_effect",
                job.id,
                f"{job.line} told it succeeded, no {'/'.join(expected)} at the target",
                _seqs(job.acked, finals[-1]),
            )
        )
    return out


def _approvals(job: Job, meta: dict[str, Any], skew: float) -> list[Violation]:
    made = [e for e in job.effects if e.data.get("what") in MUTATIONS]
    if not made or job.needs == "":
        return []
    first = made[0]
    before = [d for d in job.deliveries if d.seq < first.seq]
    if job.needs == "confirm":
        if not any(d.data.get("confirmed_by") == job.requester for d in before):
            return [
                Violation(
                    "confirmation_bypassed",
                    job.id,
                    f"{job.line} ran without its requester's Confirm",
                    _seqs(job.acked, *before[-2:], first),
                )
            ]
        return []
    approved = [d for d in before if d.data.get("approved_by")]
    if not approved:
        return [
            Violation(
                "approval_bypassed",
                job.id,
                f"{job.line} ran without an approval",
                _seqs(job.acked, *before[-2:], first),
            )
        ]
    claim = approved[0]
    by = str(claim.data["approved_by"])
    if by == job.requester:
        return [
            Violation(
                "self_approved", job.id, f"{job.line} approved by its requester {by}", _seqs(job.acked, claim, first)
            )
        ]
    if by not in meta.get("approvers", [by]):
        return [
            Violation(
                "approved_by_non_approver",
                job.id,
                f"{job.line} approved by {by}, not an approver",
                _seqs(job.acked, claim, first),
            )
        ]
    if job.approval_expires is not None and claim.at > job.approval_expires + skew:
        return [
            Violation(
                "approved_after_expiry",
                job.id,
                f"approval of {job.line} taken {claim.at - job.approval_expires:.0f} s after the request expired",
                _seqs(job.acked, claim, first),
            )
        ]
    return []


def _span_end(job: Job, released: dict[str, int]) -> int:
    """Where a job stops being on its target: its lease released (its operation done there; its answer may come
    later), or its final message, whichever comes first."""
    finals = job.finals()
    ends = [finals[0].seq] if finals else []
    if job.id in released:
        ends.append(released[job.id])
    return min(ends, default=1 << 60)


def _one_per_target(jobs: dict[str, Job], history: list[Event]) -> list[Violation]:
    released: dict[str, int] = {}
    for e in history:
        if e.kind == "lease" and e.data.get("op") == "released" and not e.data.get("lock"):
            released.setdefault(str(e.data.get("owner", "")), e.seq)
    spans: dict[str, list[tuple[int, int, Job, Event]]] = defaultdict(list)
    for job in jobs.values():
        made = [e for e in job.effects if e.data.get("what") in MUTATIONS]
        if not made:
            continue
        end_seq = _span_end(job, released)
        spans[made[0].target].append((made[0].seq, end_seq, job, made[0]))
    out = []
    for target, found in spans.items():
        found.sort(key=lambda s: s[0])
        for i, (_, end, job, first) in enumerate(found):
            for other_start, _, other, other_first in found[i + 1 :]:
                if other_start < end:
                    ended = job.finals()[:1]
                    out.append(
                        Violation(
                            "concurrent_mutations",
                            other.id,
                            f"{other.line} changed {target} while "
                            f"{job.line} (job {job.id[:8]}) was still running on it",
                            _seqs(first, other_first, *ended),
                        )
                    )
    return out


@dataclass
class _Hold:
    key: str
    owner: str
    taken: Event
    expires_at: float
    ended_seq: int = 1 << 60


def _holds_of(history: list[Event]) -> list[_Hold]:
    """Locks and freezes from the lease events: each from when it was taken to when it was released or lifted."""
    holds: list[_Hold] = []
    current: dict[str, _Hold] = {}
    for e in history:
        if e.kind != "lease" or not (e.data.get("lock") or e.data.get("freeze")):
            continue
        if e.target in current:  # replaced (a second freeze of the environment), lifted or released: this one ends
            current.pop(e.target).ended_seq = e.seq
        if e.data.get("op") == "taken" and not e.data.get("lifted"):
            hold = _Hold(e.target, str(e.data.get("owner", "")), e, float(e.data.get("expires_at", 0)))
            current[e.target] = hold
            holds.append(hold)
    return holds


def _holds(jobs: dict[str, Job], history: list[Event], meta: dict[str, Any], skew: float) -> list[Violation]:
    environments: dict[str, str] = meta.get("environments", {})
    overriders: dict[str, list[str]] = meta.get("freeze_overriders", {})
    out = []
    for hold in _holds_of(history):
        freeze = hold.key.startswith("freeze#")
        env = hold.key.removeprefix("freeze#")
        for job in jobs.values():
            for e in job.effects:
                if e.data.get("what") not in MUTATIONS or not (hold.taken.seq < e.seq < hold.ended_seq):
                    continue
                if e.at > hold.expires_at - skew:
                    continue
                if freeze and (environments.get(e.target) != env or job.requester in overriders.get(env, [])):
                    continue
                if not freeze and e.target != hold.key:
                    continue
                if hold.owner.endswith(job.id):
                    continue
                what = f"frozen environment {env}" if freeze else f"locked target {hold.key}"
                out.append(
                    Violation(
                        "hold_bypassed", job.id, f"{job.line} changed {e.target} in the {what}", _seqs(hold.taken, e)
                    )
                )
    return out


_BUSY_JOB = re.compile(r"\(job `([0-9a-f]{8})`\)")


def _leases(jobs: dict[str, Job], history: list[Event], skew: float) -> list[Violation]:
    """A busy refusal naming a job that had ended, after that job's lease's TTL had passed."""
    taken: dict[str, list[Event]] = defaultdict(list)
    for e in history:
        if e.kind == "lease" and e.data.get("op") == "taken" and not e.data.get("lock"):
            taken[str(e.data.get("owner", ""))[:8]].append(e)
    out = []
    for job in jobs.values():
        for m in job.all_finals():
            text = str(m.data.get("text", ""))
            if "is busy" not in text:
                continue
            for short in _BUSY_JOB.findall(text):
                holder = next((j for j in jobs.values() if j.id.startswith(short)), None)
                leases = [t for t in taken.get(short, []) if t.seq < m.seq]
                if holder is None or not leases:
                    continue
                ended = holder.finals()
                lease = leases[-1]
                if ended and ended[0].seq < m.seq and m.at > float(lease.data.get("expires_at", 0)) + skew:
                    out.append(
                        Violation(
                            "lease_past_ttl",
                            job.id,
                            f"{job.line} refused as busy by the lease of job {short}, which had ended, past its TTL",
                            _seqs(lease, ended[0], m),
                        )
                    )
    return out


def _seqs(*events: Event | None) -> tuple[int, ...]:
    return tuple(sorted({e.seq for e in events if e is not None}))


def _first(m: Event) -> str:
    text = str(m.data.get("text", "")).strip()
    return (text.splitlines()[0] if text else "")[:80]


__all__ = ["KINDS", "Violation", "check", "ending"]
