"""Run every benchmark: `python -m bench [--quick]` (or `python bench/run_all.py`).

Prints a markdown table per benchmark and the targets, and writes into bench/out/:
results.json (every figure, summaries of every sample), results.md (for docs/performance.md) and
latency.png (the distributions; needs matplotlib, the `bench` extra).

--quick finishes in about 3 minutes: fewer repetitions, bursts of 100 and 500 only, no load test.
The full run (about 10 minutes) adds the burst of 1,000 and the load test (bench/load.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, ROOT, Section, Target, goal_rows, log, machine_info, markdown_table

BENCHES = ("deployed", "answer", "worker_init", "cold", "warm", "long_op", "worker", "scaling", "load", "alarm_storm")
#: The order of the sections in the output (the deployed ack first, then the numbered sections).
ORDER = (
    "deployed_cold",
    "deployed_restore",
    "answer",
    "worker_init",
    "burst",
    "cold",
    "imports",
    "warm",
    "first_request",
    "long_op",
    "worker",
    "worker_variants",
    "scaling",
    "load",
    "alarm_storm",
)


def _runner(name: str, args: argparse.Namespace) -> Callable[[bool], list[Section]]:
    if name == "deployed":
        from bench import deployed

        return deployed.run
    if name == "answer":
        from bench import answer

        return answer.run
    if name == "worker_init":
        from bench import answer

        return answer.run_init
    if name == "cold":
        from bench import cold

        return cold.run
    if name == "warm":
        from bench import warm

        return warm.run
    if name == "long_op":
        from bench import long_op

        return long_op.run
    if name == "worker":
        from bench import worker

        return worker.run
    if name == "scaling":
        from bench import scaling

        return lambda quick: scaling.run(quick, pollers=args.pollers, concurrency=args.concurrency)
    if name == "load":
        from bench import load

        return lambda quick: [
            load.section(load.run_load(args.load_commands, pollers=args.pollers, concurrency=args.concurrency))
        ]
    if name == "alarm_storm":
        from bench import alarm_storm

        return alarm_storm.run
    raise ValueError(name)


def commit() -> str:
    """The revision measured (read-only git query), with a mark when the tree has local changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return rev + ("+local changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        marker = ROOT / ".bench-commit"
        return marker.read_text().strip() if marker.exists() else "unknown"


def render(sections: list[Section], meta: dict[str, Any], chart: Path | None) -> str:
    m = meta["machine"]
    lines = [
        f"## Benchmarks ({meta['mode']} run, {m['date']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}. "
        f"Revision {meta['commit']}. Command: `{meta['command']}` ({meta['seconds']:.0f} s).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        *(
            [
                f"Load average (1 min) at the start / end: {meta['load'][0]:.1f} / {meta['load'][1]:.1f} on "
                f"{m['cores']} cores"
                + (
                    ": above the core count, other work shared the machine (compare the ratios of one run, "
                    "interleaved; absolute times are context)."
                    if max(meta["load"]) > (m["cores"] or 1)
                    else "."
                )
            ]
            if meta.get("load")
            else []
        ),
        "",
        "### Time to answer: the goals",
        "",
        markdown_table(
            ["figure", "goal", "measured (same run)", "verdict"], goal_rows(t for s in sections for t in s.targets)
        ),
        "",
        "### Targets",
        "",
        markdown_table(
            ["target", "goal", "measured (same run)", "verdict", "what stands in the way"],
            [t.row() for s in sections for t in s.targets],
        ),
        "",
    ]
    if chart is not None:
        lines += [f"![Latency distributions]({chart.name})", ""]
    for section in sections:
        lines += [section.markdown(), ""]
    if meta["errors"]:
        lines += ["### Benchmarks that failed", ""] + [f"- {name}: {err}" for name, err in meta["errors"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 3 minutes: fewer repetitions, no load test")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--pollers", type=int, default=4, help="concurrent SQS pollers in the local stack")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections of a burst")
    parser.add_argument("--load-commands", type=int, default=1000)
    args = parser.parse_args(argv)

    # `worker_init` alone is part of `answer`: run on its own only when named.
    everything = [n for n in BENCHES if n != "worker_init" and not (args.quick and n == "load")]
    names = [n for n in args.only.split(",") if n] or everything
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if not 1 <= args.pollers <= 16 or not 1 <= args.concurrency <= 64:
        parser.error("--pollers 1..16, --concurrency 1..64")

    from bench.stackkit import configure_logging

    args.out.mkdir(parents=True, exist_ok=True)
    configure_logging(args.out / "bench.log")
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    sections: list[Section] = []
    errors: dict[str, str] = {}
    for name in names:
        log(f"{name}: starting")
        try:
            sections += _runner(name, args)(args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        log(f"{name}: done at {time.monotonic() - started:.0f} s")

    sections.sort(key=lambda s: ORDER.index(s.key) if s.key in ORDER else len(ORDER))
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "command": "python -m bench"
        + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else ""),
        "machine": machine_info(),
        "commit": commit(),
        "seconds": time.monotonic() - started,
        "errors": errors,
        "load": [load_at_start, os.getloadavg()[0]],
    }
    chart: Path | None = None
    try:
        from bench.chart import draw, draw_answer

        chart = draw(sections, args.out / "latency.png", subtitle=f"({meta['mode']}, {meta['machine']['date']})")
        answer = [s for s in sections if s.key == "answer"]
        if answer:
            subtitle = f"({meta['machine']['date']}, revision {meta['commit']})"
            draw_answer(answer[0].data.get("samples") or [], args.out / "answer.png", subtitle=subtitle)
    except ImportError:
        log("no chart: matplotlib is not installed (pip install -e '.[bench]')")

    targets: list[Target] = [t for s in sections for t in s.targets]
    (args.out / "results.json").write_text(
        json.dumps(
            {
                **meta,
                "goals": goal_rows(targets),
                "targets": [t.__dict__ for t in targets],
                "sections": [s.to_json() for s in sections],
            },
            indent=2,
            default=str,
        )
    )
    markdown = render(sections, meta, chart)
    (args.out / "results.md").write_text(markdown + "\n")
    print(markdown)
    log(f"wrote {args.out / 'results.md'}, {args.out / 'results.json'}" + (f", {chart}" if chart else ""))
    load_failed = any(s.key == "load" and not s.data.get("ok", True) for s in sections)
    return 1 if errors or load_failed else 0


if __name__ == "__main__":
    sys.exit(main())
