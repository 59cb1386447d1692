"""The chaos campaign: `python -m tests.chaos --seeds 1000` runs seeds 1..1000 on one local stack and prints each
violation with the slice of history that shows it, then one line of figures (seeds, jobs, faults injected, kills,
duplicates, violations, date, revision, machine, load).

`--seed N` replays one seed (its schedule comes from the seed alone) and prints its schedule too; `--history FILE`
writes its history as JSON lines. `--from N` starts elsewhere; `--until HH:MM` (UTC) stops starting seeds then;
`--jobs N` runs the seeds in N processes, each on its own local stack.
"""

from __future__ import annotations

import os
import sys

#: The functions' own logs and metrics (Powertools writes them to stdout) would drown the campaign's lines.
OUT = sys.stdout
sys.stdout = open(os.devnull, "w")  # noqa: SIM115

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from tests.chaos.broken import NAMES, broken  # noqa: E402
from tests.chaos.checker import check  # noqa: E402
from tests.chaos.schedule import Schedule  # noqa: E402
from tests.chaos.world import ChaosStack, Run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds (default 10)")
    parser.add_argument("--from", dest="first", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--seed", type=int, help="replay this one seed, showing its schedule")
    parser.add_argument("--history", type=Path, help="write the (last) seed's history here (JSON lines)")
    parser.add_argument("--until", help="start no seed after this UTC time (HH:MM)")
    parser.add_argument("--log", type=Path, help="append one line per seed here")
    parser.add_argument("--break", dest="broken", choices=NAMES, help="run a deliberately broken build")
    parser.add_argument(
        "--jobs", type=int, default=1, help="run the seeds in this many processes, each on its own local stack"
    )
    parser.add_argument("--part", help=argparse.SUPPRESS)  # "i/n": this process runs every n-th seed from the i-th
    args = parser.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    revision = _git("rev-parse", "--short", "HEAD") or "unknown"
    started, load = time.monotonic(), os.getloadavg()[0]
    if args.part:
        index, count = (int(x) for x in args.part.split("/"))
        totals = run_seeds(seeds[index::count], args)
        say(PART_TOTALS + json.dumps(totals))
        return 1 if totals["violations"] else 0
    parallel = args.jobs > 1 and args.seed is None
    totals = run_parts(args) if parallel else run_seeds(seeds, args)
    minutes = (time.monotonic() - started) / 60
    processes = f", {args.jobs} processes" if parallel else ""
    summary = (
        f"{totals['seeds']} seeds, {totals['jobs']} jobs, {totals['faults']} faults injected on the wire, "
        f"{totals['kills']} workers killed, {totals['duplicates']} duplicate deliveries, {totals['violations']} "
        f"violations; {datetime.now(UTC):%Y-%m-%d}, revision {revision}, {os.cpu_count()}-core {platform.machine()} "
        f"{platform.system()}{processes}, {minutes:.0f} min, load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    say(summary)
    if totals["failing"]:
        say("failing seeds:", " ".join(map(str, sorted(set(totals["failing"])))))
    if args.log:
        with args.log.open("a") as log:
            log.write(summary + "\n")
    return 1 if totals["violations"] else 0


#: How a part's process hands its totals to the campaign's (one line of its output).
PART_TOTALS = "part totals: "


def run_seeds(seeds: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Each seed on one local stack (made once, reset between seeds): its line, its violations; the totals."""
    totals: dict[str, Any] = {"seeds": 0, "jobs": 0, "faults": 0, "kills": 0, "duplicates": 0, "violations": 0}
    totals["failing"] = []
    with ChaosStack.running() as stack, broken(args.broken) if args.broken else contextlib.nullcontext():
        for seed in seeds:
            if args.until and datetime.now(UTC).strftime("%H:%M") >= args.until:
                break
            schedule = Schedule.from_seed(seed)
            if args.seed is not None:
                say(schedule.describe())
            run = Run(stack, schedule)
            try:
                history = run.play()
            finally:
                run.close()
            found = check(history)
            if args.history:
                history.dump(args.history)
            jobs = sum(
                1 for e in history if e.kind in ("ack", "alarm") and e.data.get("outcome", "queued") != "refused"
            )
            totals["seeds"] += 1
            totals["jobs"] += jobs
            totals["faults"] += run.faults
            totals["kills"] += len(history.of("kill"))
            totals["duplicates"] += len(history.of("duplicate"))
            totals["violations"] += len(found)
            line = f"seed {seed}: {jobs} jobs, {run.faults} faults, {len(found)} violations"
            say(line)
            if args.log:
                with args.log.open("a") as log:
                    log.write(line + "\n")
            for violation in found:
                totals["failing"].append(seed)
                say(violation.render(history))
    return totals


def run_parts(args: argparse.Namespace) -> dict[str, Any]:
    """The seeds split over `args.jobs` processes (seed i goes to process i mod jobs), each on its own local stack
    (moto, Slack, CodeBuild, Jenkins, its own ports and tables): a seed's run is the same as alone, only the
    machine is busier. Their lines are passed on as they come; their totals are added up."""
    command = [sys.executable, "-m", "tests.chaos", "--seeds", str(args.seeds), "--from", str(args.first)]
    for name, value in (("--until", args.until), ("--log", args.log), ("--break", args.broken)):
        if value:
            command += [name, str(value)]
    parts = [
        subprocess.Popen([*command, "--part", f"{i}/{args.jobs}"], stdout=subprocess.PIPE, text=True)
        for i in range(args.jobs)
    ]
    totals: dict[str, Any] = {"seeds": 0, "jobs": 0, "faults": 0, "kills": 0, "duplicates": 0, "violations": 0}
    totals["failing"] = []
    lock = threading.Lock()

    def follow(part: subprocess.Popen[str]) -> None:
        assert part.stdout is not None
        for line in part.stdout:
            if line.startswith(PART_TOTALS):
                found = json.loads(line[len(PART_TOTALS) :])
                with lock:
                    for key, value in found.items():
                        totals[key] += value
                continue
            with lock:
                say(line.rstrip("\n"))

    readers = [threading.Thread(target=follow, args=(part,), daemon=True) for part in parts]
    for reader in readers:
        reader.start()
    try:
        for part in parts:
            part.wait()
    except KeyboardInterrupt:
        for part in parts:
            part.terminate()
        raise
    for reader in readers:
        reader.join()
    return totals


def say(*args: object) -> None:
    print(*args, file=OUT, flush=True)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
