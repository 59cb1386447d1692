"""The latency distributions of a run as one PNG (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.common import Section, fmt_ms, percentile


def draw(sections: list[Section], path: Path, *, subtitle: str = "") -> Path | None:
    """One panel per section with samples: horizontal box plots (whiskers at p1..p99), p50 and p99 marked."""
    panels = [s for s in sections if s.samples]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2
    rows = math.ceil(len(panels) / cols)
    # Each row of panels as tall as its longest list of labels needs (a panel of 21 rows is not squeezed into 3 in.).
    heights = [max(3.2, 0.42 * max(len(p.samples) for p in panels[r * cols : (r + 1) * cols])) for r in range(rows)]
    fig, axes = plt.subplots(
        rows, cols, figsize=(16, sum(heights) + 0.8), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for ax, section in zip(axes.flat, panels, strict=False):
        labels = list(section.samples)[::-1]  # box plots stack bottom-up: keep the table's order top-down
        data = [section.samples[label] or [math.nan] for label in labels]
        ax.boxplot(data, vert=False, whis=(1, 99), showfliers=True, flierprops={"markersize": 2, "alpha": 0.4})
        ax.set_yticks(range(1, len(labels) + 1), [f"{label}\n(n={len(section.samples[label])})" for label in labels])
        values = [v for d in data for v in d if not math.isnan(v)]
        if values and min(values) > 0 and max(values) / min(values) > 50:
            ax.set_xscale("log")
        for i, d in enumerate(data, start=1):
            clean = [v for v in d if not math.isnan(v)]
            if clean:
                p50, p99 = percentile(clean, 50), percentile(clean, 99)
                ax.plot([p99], [i], marker="|", color="crimson", markersize=14)
                ax.annotate(
                    f"p50 {fmt_ms(p50)}  p99 {fmt_ms(p99)}",
                    (p50, i),
                    xytext=(0, 12),
                    textcoords="offset points",
                    fontsize=7,
                    ha="left",
                )
        ax.set_title(section.title, fontsize=9)
        ax.set_xlabel("ms")
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"opsbot benchmarks {subtitle}".strip(), fontsize=11)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


#: The time-to-answer chart's bars, in order: (system, start, label, colour).
ANSWER_BARS = (
    ("opsbot", "cold", "opsbot, worker cold", "#1f77b4"),
    ("opsbot", "restore", "opsbot, worker restored (SnapStart)", "#2ca02c"),
    ("opsbot", "warm", "opsbot, worker warm", "#17becf"),
    ("bolt", "cold", "Bolt lazy, cold", "#d62728"),
    ("bolt", "warm", "Bolt lazy, warm", "#ff9896"),
    ("seed", "cold", "synchronous, cold", "#7f7f7f"),
    ("seed", "warm", "synchronous, warm", "#c7c7c7"),
)
#: The chart's groups: (label, the sample kinds in it).
ANSWER_GROUPS = (
    ("/ops-status", ("status",)),
    ("/deploy-status", ("deploy-status",)),
    ("/ops-lock, /ops-unlock", ("lock", "unlock")),
)


def draw_answer(samples: list[dict[str, object]], path: Path, *, subtitle: str = "") -> Path | None:
    """The time to answer (signed POST to the requester's final message) of each command and variant: a bar at
    p50, a line from it to p99 (log scale). `samples`: the answer section's raw samples (`bench.answer`, as
    results.json keeps them)."""
    if not samples:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10.5, 4.6))
    height = 0.8 / len(ANSWER_BARS)
    for g, (_group, kinds) in enumerate(ANSWER_GROUPS):
        for b, (system, start, label, colour) in enumerate(ANSWER_BARS):
            values = [
                float(s["answer_ms"])  # type: ignore[arg-type]
                for s in samples
                if s.get("system") == system and s.get("start") == start and s.get("command") in kinds
            ]
            values = [v for v in values if not math.isnan(v)]
            if not values:
                continue
            y = g + (b - (len(ANSWER_BARS) - 1) / 2) * height
            p50, p99 = percentile(values, 50), percentile(values, 99)
            ax.barh(y, p50, height=height * 0.9, color=colour, label=label if g == 0 else None)
            ax.plot([p50, p99], [y, y], color="black", linewidth=0.8)
            ax.annotate(
                f"{fmt_ms(p50, 0)} / {fmt_ms(p99, 0)}",
                (p99, y),
                xytext=(3, -3),
                textcoords="offset points",
                fontsize=6.5,
            )
    ax.set_xscale("log")
    ax.set_xlim(right=ax.get_xlim()[1] * 1.6)  # room for the last figures
    ax.set_yticks(range(len(ANSWER_GROUPS)), [group for group, _ in ANSWER_GROUPS])
    ax.invert_yaxis()
    ax.set_xlabel("ms from the signed POST to the final message (bar: p50, line: to p99; log scale)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Time to answer {subtitle}".strip(), fontsize=10)
    return _save(fig, path)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.chart RESULTS_JSON OUT_PNG`: the time-to-answer chart again from a run's results.json."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.chart RESULTS_JSON OUT_PNG", file=sys.stderr)
        return 2
    results = json.loads(Path(args[0]).read_text())
    answer = [s for s in results.get("sections", []) if s.get("key") == "answer"]
    if not answer:
        print(f"{args[0]}: no time-to-answer section in this run", file=sys.stderr)
        return 1
    subtitle = f"({results['machine']['date']}, revision {results.get('commit', '?')})"
    draw_answer(answer[0]["data"]["samples"], Path(args[1]), subtitle=subtitle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
