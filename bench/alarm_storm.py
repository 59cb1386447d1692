"""An alarm storm against the strict local Slack: `python -m bench.alarm_storm` (a section of `python -m bench`).

200 CloudWatch alarms enter ALARM within a minute, all routed to one channel (#incident); 40 of them recover
(OK) within the same minute and 10 notifications arrive twice (SNS delivers at least once). The local stack
runs as deployed: the worker's event source with batch size 1 and 5 concurrent invocations
(infra/aws/worker.py), the queue's visibility timeout of 720 s (shared/settings.py); the local Slack API is
strict: chat.postMessage about one message a second per channel (a burst of 3), chat.update Tier 3, each
answered 429 with Retry-After beyond that.

Measured: every alarm posted once and its recovery updated in place (one message per alarm, found by the
marker of its first block), none lost, none duplicated, none dead-lettered; the time from the first
notification to the last message Slack took, against the floor Slack's limit sets: 200 new messages in one
channel at one a second = 200 s. Goal: within 1.15x of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Section, Target, log, machine_info

CHANNEL = "C0INCIDENT"
PREFIX = "storm-"
#: Slack's chat.postMessage limit: about one message a second per channel.
POST_PER_SECOND = 1.0
GOAL_RATIO = 1.15


def _inventory(path: Path) -> Path:
    from infra.devstack.aws import DEMO_CLUSTER
    from infra.devstack.demo import demo_inventory_toml

    route = f'\n[alarms."{PREFIX}"]\nprefix = true\ntarget = "payment"\nchannel = "{CHANNEL}"\n'
    path.write_text(demo_inventory_toml(DEMO_CLUSTER) + route)
    return path


def _schedule(alarms: int, window_s: float, recoveries: int, duplicates: int) -> list[tuple[float, str, str]]:
    """(when, alarm name, state) of every notification, spread over the window."""
    step = window_s / alarms
    plan = [(i * step, f"{PREFIX}{i:03d}", "ALARM") for i in range(alarms)]
    plan += [(i * step, f"{PREFIX}{i:03d}", "ALARM") for i in range(0, alarms, max(1, alarms // duplicates))][
        :duplicates
    ]
    plan += [(min(window_s, i * step + window_s / 2), f"{PREFIX}{i:03d}", "OK") for i in range(recoveries)]
    return sorted(plan)


def _queue_empty(sqs: Any, url: str) -> bool:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(attributes.get(n) == "0" for n in names)


def storm(
    *, alarms: int = 200, window_s: float = 60.0, recoveries: int = 40, duplicates: int = 10, timeout_s: float = 900
) -> dict[str, Any]:
    """Run the storm on a fresh local stack; return what Slack received and when."""
    from datetime import UTC, datetime

    from infra.aws.worker import BATCH_SIZE, MAX_CONCURRENCY
    from infra.devstack.alarm_feed import sns_alarm_notification
    from infra.devstack.aws import aws_client
    from infra.devstack.stack import LocalStack
    from shared.settings import QUEUE_VISIBILITY_TIMEOUT_SECONDS
    from worker_function.alarms import marker_for

    plan = _schedule(alarms, window_s, recoveries, duplicates)
    with tempfile.TemporaryDirectory() as tmp:
        inventory = _inventory(Path(tmp) / "inventory.toml")
        stack = LocalStack(
            port=0,
            pollers=MAX_CONCURRENCY,
            batch_size=BATCH_SIZE,
            visibility_timeout=QUEUE_VISIBILITY_TIMEOUT_SECONDS,
            inventory_path=inventory,
            log_level="ERROR",
        )
        with stack:
            assert stack.provisioned is not None
            queue_url, dlq_url = stack.provisioned.queue_url, stack.provisioned.dlq_url
            sqs = aws_client("sqs", stack.endpoint_url, stack.region)
            slack = stack.slack
            changed: dict[str, datetime] = {}
            started = time.monotonic()
            first_sent = time.time()
            for at, name, state in plan:
                delay = started + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if state == "ALARM" and name in changed:  # a repeated notification: the same change again
                    body = sns_alarm_notification(name, state, now=changed[name])
                else:
                    changed[name] = datetime.now(UTC)
                    body = sns_alarm_notification(name, state, now=changed[name])
                sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            log(f"alarm storm: {len(plan)} notifications sent in {time.monotonic() - started:.0f} s")
            markers = {marker_for(f"{PREFIX}{i:03d}"): i for i in range(alarms)}
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:  # every alarm posted and every notification handled
                posts = [m for m in slack.messages(channel=CHANNEL) if m.kind == "chat.postMessage"]
                if len(posts) >= alarms and _queue_empty(sqs, queue_url):
                    break
                time.sleep(1.0)
            records = slack.messages(channel=CHANNEL)
            calls = slack.calls
            dead = _queue_count(sqs, dlq_url)
            pending = not _queue_empty(sqs, queue_url)
    posts = [m for m in records if m.kind == "chat.postMessage"]
    updates = [m for m in records if m.kind == "chat.update"]
    by_marker = Counter(_marker(m.payload) for m in posts)
    posted_ts = {m.ts: _marker(m.payload) for m in posts}
    updated = Counter(posted_ts.get(m.ts or "") for m in updates)
    recovered = {marker_for(f"{PREFIX}{i:03d}") for i in range(recoveries)}
    # What each alarm's one message shows last (its post, then its updates in order): OK for a recovered one.
    shown: dict[str | None, str] = {}
    for m in records:
        shown[posted_ts.get(m.ts or "")] = m.text
    wrong = [k for k in markers if (shown.get(k, "").endswith(" is OK")) != (k in recovered)]
    last = max((m.received_at for m in records), default=first_sent)
    drain_s = last - first_sent
    floor_s = alarms / POST_PER_SECOND
    statuses = Counter((c.path.removeprefix("/api/"), c.status) for c in calls if c.path.startswith("/api/"))
    return {
        "alarms": alarms,
        "notifications": len(plan),
        "window_s": window_s,
        "recoveries": recoveries,
        "duplicates": duplicates,
        "posted": len(posts),
        "alarms_posted": sum(1 for k in by_marker if k in markers),
        "duplicated": sum(n - 1 for n in by_marker.values() if n > 1),
        "lost": sum(1 for k in markers if k not in by_marker),
        "updates": len(updates),
        "recoveries_shown": sum(1 for k in recovered if shown.get(k, "").endswith(" is OK")),
        "recoveries_updated": sum(1 for k in recovered if updated.get(k, 0) >= 1),
        "wrong_state_shown": len(wrong),
        "updates_of_unknown": updated.get(None, 0),
        "dead_lettered": dead,
        "still_queued": pending,
        "drain_s": drain_s,
        "floor_s": floor_s,
        "ratio": drain_s / floor_s,
        "calls": {f"{method} {status}": n for (method, status), n in sorted(statuses.items())},
        "pollers": MAX_CONCURRENCY,
        "batch_size": BATCH_SIZE,
    }


def _marker(payload: dict[str, Any]) -> str | None:
    blocks = payload.get("blocks") or []
    return str(blocks[0].get("block_id")) if blocks and isinstance(blocks[0], dict) else None


def _queue_count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def section(result: dict[str, Any]) -> Section:
    r = result
    exact = (
        r["lost"] == 0
        and r["duplicated"] == 0
        and r["dead_lettered"] == 0
        and r["alarms_posted"] == r["alarms"]
        and r["recoveries_shown"] == r["recoveries"]
        and r["wrong_state_shown"] == 0
        and not r["still_queued"]
    )
    limited = sum(n for k, n in r["calls"].items() if k.endswith(" 429"))
    rows = [
        ["notifications sent (ALARM, OK, repeated)", f"{r['notifications']} in {r['window_s']:.0f} s"],
        ["alarms posted, once each", f"{r['alarms_posted']} of {r['alarms']} (duplicates {r['duplicated']})"],
        ["lost / dead-lettered / left on the queue", f"{r['lost']} / {r['dead_lettered']} / {int(r['still_queued'])}"],
        [
            "recoveries shown (OK in the alarm's one message)",
            f"{r['recoveries_shown']} of {r['recoveries']} ({r['recoveries_updated']} by chat.update in place, the "
            "rest posted as OK: the OK was handled before its ALARM, which then was stale)",
        ],
        ["alarms showing a state other than their last", str(r["wrong_state_shown"])],
        ["Slack calls answered 429 (paced, not failed)", str(limited)],
        ["time to drain (first notification to last message)", f"{r['drain_s']:.1f} s"],
        [f"floor: {r['alarms']} new messages at 1/s in one channel", f"{r['floor_s']:.0f} s"],
        ["drain / floor", f"{r['ratio']:.3f}x"],
    ]
    return Section(
        key="alarm_storm",
        title=f"Alarm storm: {r['alarms']} alarms in {r['window_s']:.0f} s into one channel, strict local Slack",
        headers=["measure", "value"],
        rows=rows,
        notes=[
            f"Worker as deployed: batch size {r['batch_size']}, {r['pollers']} concurrent invocations, visibility "
            "timeout 720 s; the local Slack API strict (chat.postMessage ~1/s per channel, burst 3; chat.update "
            "Tier 3).",
            "Slack calls by answer: " + ", ".join(f"{k}: {n}" for k, n in r["calls"].items()) + ".",
        ],
        targets=[
            Target(
                "alarm storm drains near Slack's limit",
                f"<= {GOAL_RATIO}x the floor, every alarm once",
                f"{r['ratio']:.3f}x ({r['drain_s']:.0f} s / {r['floor_s']:.0f} s)",
                exact and r["ratio"] <= GOAL_RATIO,
                "" if exact else "an alarm lost, duplicated or dead-lettered",
            )
        ],
        data=r,
    )


def run(quick: bool) -> list[Section]:
    result = storm(alarms=60 if quick else 200, window_s=20 if quick else 60, recoveries=12 if quick else 40)
    return [section(result)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alarm_storm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which the alarms change state")
    parser.add_argument("--recoveries", type=int, default=40)
    parser.add_argument("--duplicates", type=int, default=10)
    args = parser.parse_args(argv)
    from bench.stackkit import configure_logging

    configure_logging()
    load_at_start = os.getloadavg()[0]
    result = storm(alarms=args.alarms, window_s=args.window, recoveries=args.recoveries, duplicates=args.duplicates)
    result["load"] = [load_at_start, os.getloadavg()[0]]
    result["machine"] = machine_info()
    built = section(result)
    print(built.markdown())
    for target in built.targets:
        print("target:", " | ".join(target.row()))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, default=str))
    return 0 if built.targets[0].met else 1


if __name__ == "__main__":
    sys.exit(main())
