"""The recorded history of a chaos run: what people asked and were answered, what each worker delivery did, the
side effects counted at the target, the messages Slack received, the leases, locks and freezes as the table held
them, the faults injected. Plain data (JSON lines), so the checker can be tested on hand-written histories.

Event kinds and their `data`:

- ``meta``: the run's facts the checker needs: ``approvers`` (user ids), ``freeze_overriders`` ({environment:
  [user ids]}), ``environments`` ({target: environment}), ``skew_s`` (the largest clock skew between workers),
  ``seed``.
- ``request``: a person typed a command (``user``, ``line``, ``command``, ``mutating``).
- ``ack``: the ack's answer to a request or a click (``outcome``: queued, prompt, approval, refused, error;
  ``text``); `job` is the job the request became.
- ``click``: a button pressed (``user``, ``action``: confirm, cancel, approve, reject; ``outcome`` as ``ack``).
- ``alarm``: an alarm notification put on the queue (`job` names it; ``channel``).
- ``delivery``: one delivery of a queue message to a worker (``worker``, ``receive``, ``kind``, ``approved_by``,
  ``confirmed_by``, ``outcome``: ok, failed, killed; ``clock``: the worker's own clock).
- ``effect``: a side effect the target received (``what``: ecs.restart, ecs.scale, ecs.rollback, codebuild.start,
  codebuild.stop, jenkins.build, ec2.reboot; ``worker``), attributed to the job of the delivery that sent it.
- ``message``: a message Slack received (``to``: requester or other; ``kind``, ``key``, ``ts``, ``final``,
  ``replace``, ``channel``, ``text``).
- ``lease``: a change in the leases table (``op``: taken, released; ``owner``, ``expires_at``, ``lock``,
  ``freeze``, ``lifted``); `target` is the item's key (``freeze#prod`` for a freeze).
- ``fault`` / ``kill`` / ``duplicate`` / ``tick``: what the schedule did (for the reader of a slice).
- ``end``: the run is over (``pending``: messages still on the queue, ``dead_letters``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Event:
    seq: int
    #: The simulated clock (epoch seconds) when it happened.
    at: float
    kind: str
    job: str = ""
    target: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One readable line (a slice is printed with these)."""
        shown = {k: v for k, v in self.data.items() if k != "text"}
        text = str(self.data.get("text", "")).replace("\n", " ")[:100]
        parts = [f"#{self.seq:<4}", f"t+{self.at:9.1f}", f"{self.kind:<9}"]
        if self.job:
            parts.append(f"job {self.job[:8]}")
        if self.target:
            parts.append(f"on {self.target}")
        if shown:
            parts.append(" ".join(f"{k}={v}" for k, v in shown.items()))
        if text:
            parts.append(repr(text))
        return " ".join(parts)


class History:
    """Events in the order they happened; thread-safe appends (parallel deliveries record into it)."""

    def __init__(self, events: Iterable[Event] = (), *, start: float = 0.0) -> None:
        import threading

        self.events: list[Event] = list(events)
        self.start = start
        self._lock = threading.Lock()

    def add(self, kind: str, at: float, /, *, job: str = "", target: str = "", **data: Any) -> Event:
        with self._lock:
            event = Event(len(self.events), at - self.start, kind, job, target, data)
            self.events.append(event)
        return event

    def rel(self, epoch: float) -> float:
        """An epoch time on the history's scale (seconds since the run started)."""
        return epoch - self.start

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def dump(self, path: Path) -> None:
        path.write_text("".join(json.dumps(asdict(e)) + "\n" for e in self.events))

    @classmethod
    def load(cls, path: Path) -> History:
        return cls(Event(**json.loads(line)) for line in path.read_text().splitlines() if line.strip())
