"""The latency distributions of a run as one PNG (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
