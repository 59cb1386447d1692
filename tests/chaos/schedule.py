"""A chaos schedule drawn from a seed alone: who types what when, which faults are on the wire when, which
deliveries are killed or duplicated, and each worker's clock skew.

Every decision comes from its own `random.Random` keyed by the seed and what is decided (`Schedule.rng`), never
from one stream consumed in the order things happen: a decision does not change when something before it took
another turn, so a seed replays the same schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: Simulated seconds per tick while people type (the local CodeBuild's and Jenkins's builds end within a few).
TICK_S = 30.0
#: Simulated seconds per tick once nobody types any more: prompts and approval requests expire sooner.
TAIL_TICK_S = 400.0

#: The largest clock skew between two workers, seconds. Lambda's clocks are synchronized (Amazon Time Sync);
#: a second either way is generous.
MAX_SKEW_S = 1.0

#: (weight, user, line): the commands people type. `{job}` is replaced by an earlier job's short id.
COMMANDS: tuple[tuple[int, str, str], ...] = (
    (3, "U0LOCALDEV", "/ops-status payment"),
    (2, "U0DANA", "/deploy-status checkout"),
    (2, "U0LOCALDEV", "/ops-ping"),
    (5, "U0LOCALDEV", "/ops-restart payment"),
    (5, "U0DANA", "/ops-restart checkout"),
    (2, "U0DANA", "/ops-restart bastion"),
    (3, "U0LOCALDEV", "/ops-scale checkout 3"),
    (2, "U0DANA", "/ops-scale payment 3"),
    (3, "U0DANA", "/ops-rollback payment"),
    (3, "U0LOCALDEV", "/ops-migrate payment 2024.06.1"),
    (3, "U0ALEX", "/ops-migrate payment 2024.07.0"),
    (3, "U0LOCALDEV", "/ops-build deploy-web ENV=staging"),
    (3, "U0DANA", "/ops-regression smoke"),
    (2, "U0LOCALDEV", "/ops-lock checkout chaos drill"),
    (2, "U0LOCALDEV", "/ops-unlock checkout"),
    (2, "U0DANA", "/ops-freeze staging chaos drill"),
    (2, "U0DANA", "/ops-unfreeze staging"),
    (4, "U0LOCALDEV", "/ops-cancel {job}"),
    (3, "", "(alarm)"),
)

#: The services a fault window may hit (the worker's calls, as the fault proxy names them).
SERVICES = ("dynamodb", "sqs", "ecs", "codebuild", "jenkins", "slack", "ec2")
#: (weight, mode, when): what a window does to the calls it hits.
MODES = (
    (4, "error", "before"),
    (5, "error", "after"),
    (3, "refuse", "before"),
    (4, "reset", "after"),
    (1, "timeout", "after"),
    (3, "latency", "before"),
)


@dataclass(frozen=True)
class Window:
    """Faults on one service from tick `start` to tick `end` (inclusive), hitting each call with `rate`."""

    service: str
    mode: str
    when: str
    start: int
    end: int
    rate: float
    #: Seconds of real time a `latency` window adds (the scaled clock: milliseconds to a minute).
    delay_s: float = 0.0

    def label(self) -> str:
        return f"{self.mode} {self.when} on {self.service} ticks {self.start}-{self.end} ({self.rate:.0%})"


@dataclass(frozen=True)
class Action:
    tick: int
    user: str
    line: str


@dataclass
class Schedule:
    seed: int
    workers: int
    skews: list[float]
    actions: list[Action]
    windows: list[Window]
    #: Chances per delivery: killed at one of its calls, delivered twice.
    kill_rate: float
    duplicate_rate: float
    #: Chance per delivery of one fault at one of its calls (any service, any mode), besides the windows.
    point_rate: float = 0.0
    #: Ticks after the last action before the run must be over (everything told).
    max_ticks: int = 60
    notes: list[str] = field(default_factory=list)

    def rng(self, *key: object) -> random.Random:
        """The random stream of one decision, keyed by the seed and what is decided."""
        return random.Random(":".join(map(str, (self.seed, *key))))

    @classmethod
    def from_seed(cls, seed: int, *, users: int = 4, actions: int = 8, workers: int = 3) -> Schedule:
        rng = random.Random(f"{seed}:schedule")
        skews = [round(rng.uniform(-MAX_SKEW_S / 2, MAX_SKEW_S / 2), 3) for _ in range(workers)]
        weights = [w for w, _, _ in COMMANDS]
        drawn: list[Action] = []
        last_tick = max(3, actions // 2)
        for _ in range(actions):
            _, user, line = rng.choices(COMMANDS, weights)[0]
            tick = rng.randint(0, last_tick)
            drawn.append(Action(tick, user or "", line))
        drawn.sort(key=lambda a: a.tick)
        # `users` concurrent people: the same tick holds up to that many requests, the rest move a tick on.
        per_tick: dict[int, int] = {}
        spread = []
        for action in drawn:
            tick = action.tick
            while per_tick.get(tick, 0) >= users:
                tick += 1
            per_tick[tick] = per_tick.get(tick, 0) + 1
            spread.append(Action(tick, action.user, action.line))
        windows = []
        for _ in range(rng.randint(2, 6)):
            _, mode, when = rng.choices(MODES, [w for w, _, _ in MODES])[0]
            start = rng.randint(0, last_tick + 6)
            length = rng.choice((0, 0, 0, 1, 1, 2))  # one tick is up to 30 s: milliseconds to a minute
            rate = rng.choice((0.1, 0.25, 0.5, 1.0)) if mode != "timeout" else 0.1
            delay = round(rng.uniform(0.02, 0.3), 3) if mode == "latency" else 0.0
            windows.append(Window(rng.choice(SERVICES), mode, when, start, start + length, rate, delay))
        return cls(
            seed=seed,
            workers=workers,
            skews=skews,
            actions=spread,
            windows=windows,
            kill_rate=rng.choice((0.0, 0.05, 0.1)),
            duplicate_rate=rng.choice((0.0, 0.05, 0.15)),
            point_rate=rng.choice((0.1, 0.25, 0.4)),
        )

    def describe(self) -> str:
        lines = [
            f"seed {self.seed}: {self.workers} workers, skews {self.skews}, kill {self.kill_rate:.0%}, "
            f"duplicate {self.duplicate_rate:.0%}, one fault in "
            f"{self.point_rate:.0%} of deliveries"
        ]
        lines.extend(f"  tick {a.tick}: {a.user or 'AWS'} {a.line}" for a in self.actions)
        lines.extend(f"  fault: {w.label()}" for w in self.windows)
        return "\n".join(lines)
