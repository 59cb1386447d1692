"""Issue 3's load test: no lost and no duplicated operations under bursts, Slack retries and contention.

    python -m bench.load [--commands 1000] [--pollers 4] [--concurrency 8] [--bursts 10]
    python bench/load.py ...

1,000 commands go through the local stack in bursts: 10% of them are Slack retries of earlier requests
(the same body and trigger_id, so the same job id, signed again and marked X-Slack-Retry-Num), a third
are `/ops-restart <svc>` on the same two services (payment, checkout), the rest a mix of `/ops-ping` and
`/deploy-status`, from a handful of requesters. Several pollers, each with its own worker instance
(Lambda concurrency), so duplicates of one job really race.

Executions are counted from the worker's own log records ("executed ..." with the job id, attached
in-process to the `worker_function` logger), final messages from the local Slack API.
Exit status 1 if a job was lost (queued, no final message), ran twice, or a requester got no final message.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, Section, fmt_ms, log, machine_info, summarize
from bench.stackkit import (
    QUEUED,
    Command,
    ExecutionCounter,
    FinalWatch,
    ack_text,
    configure_logging,
    new_command,
    send_bursts,
    signed_request,
)

USERS = ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN")
SERVICES = ("payment", "checkout")


def plan(
    n: int, *, bursts: int, retry_share: float, restart_share: float, seed: int
) -> list[list[tuple[Command, int]]]:
    """Bursts of (command, retry number): originals in order, each retry in its original's burst or the next."""
    rng = random.Random(seed)
    n_retries = round(n * retry_share)
    n_unique = n - n_retries
    kinds = ["restart"] * round(n_unique * restart_share)
    kinds += ["other"] * (n_unique - len(kinds))
    rng.shuffle(kinds)
    uniques = []
    for i, kind in enumerate(kinds):
        user = rng.choice(USERS)
        if kind == "restart":
            uniques.append(new_command(i, "/ops-restart", rng.choice(SERVICES), user))
        elif rng.random() < 0.5:
            uniques.append(new_command(i, "/ops-ping", "", user))
        else:
            uniques.append(new_command(i, "/deploy-status", rng.choice(SERVICES), user))
    per_burst = -(-n_unique // bursts)
    planned: list[list[tuple[Command, int]]] = [
        [(c, 0) for c in uniques[b * per_burst : (b + 1) * per_burst]] for b in range(bursts)
    ]
    retries: dict[str, int] = {}
    for _ in range(n_retries):
        original = rng.choice(uniques)
        burst = min(bursts - 1, original.id // per_burst + rng.choice((0, 1)))
        retries[original.trigger_id] = retries.get(original.trigger_id, 0) + 1
        planned[burst].append((original, retries[original.trigger_id]))
    return planned


def queue_empty(stack: Any) -> bool:
    from infra.devstack.aws import aws_client

    attributes = aws_client("sqs", stack.moto.endpoint_url).get_queue_attributes(
        QueueUrl=stack.provisioned.queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(int(v) == 0 for v in attributes.values())


def run_load(
    n: int = 1000,
    *,
    bursts: int = 10,
    pollers: int = 4,
    concurrency: int = 8,
    retry_share: float = 0.10,
    restart_share: float = 1 / 3,
    pause_s: float = 1.0,
    seed: int = 3,
) -> dict[str, Any]:
    from infra.devstack.stack import LocalStack

    configure_logging()
    started = time.monotonic()
    planned = plan(n, bursts=bursts, retry_share=retry_share, restart_share=restart_share, seed=seed)
    with LocalStack(port=0, pollers=pollers) as stack:
        counter = ExecutionCounter().attach()
        try:
            state = stack.state
            sent_commands: dict[int, tuple[Command, int]] = {}
            request_bursts = []
            for burst in planned:
                requests = []
                for command, retry in burst:
                    request_id = len(sent_commands)
                    sent_commands[request_id] = (command, retry)
                    requests.append(
                        signed_request(
                            command, state.slack_url, stack.signing_secret, request_id=request_id, retry_num=retry
                        )
                    )
                request_bursts.append(requests)
            log(f"load: sending {len(sent_commands)} commands in {bursts} bursts over {concurrency} connections")
            sent = send_bursts(state.events_url, request_bursts, concurrency=concurrency, pause_s=pause_s)
            results = sent["results"]
            queued_jobs: set[str] = set()
            not_queued: list[dict[str, Any]] = []
            for result in results:
                command, _ = sent_commands[result["id"]]
                match = QUEUED.search(ack_text(result["body"])) if result["status"] == 200 else None
                if match and command.job_id.startswith(match.group(1)):
                    queued_jobs.add(command.job_id)
                else:
                    not_queued.append(
                        {"id": result["id"], "status": result["status"], "text": ack_text(result["body"])[:200]}
                    )
            log(f"load: {len(queued_jobs)} jobs queued; waiting for their final messages")
            watch = FinalWatch()
            drained = watch.wait(stack.slack, queued_jobs, timeout_s=120 + 0.3 * n)
            drain_s = watch.last_final_at(queued_jobs) - sent["t_first_send"]
            # Settle: redeliveries (a duplicate that met its twin in progress comes back after the visibility
            # timeout) must be seen to run or not before counting.
            settle_deadline = time.monotonic() + 60
            while time.monotonic() < settle_deadline and not queue_empty(stack):
                time.sleep(0.5)
            time.sleep(3)
            watch.poll(stack.slack)
            executions = counter.by_job()
            step_records = list(counter.steps)
            double_logged = set(counter.double_logged)
            raw_executed = len(counter.executions)
            deliveries = list(counter.deliveries)
        finally:
            counter.detach()
    report = _report(
        sent_commands,
        results,
        queued_jobs,
        not_queued,
        watch,
        executions,
        step_records,
        drained,
        drain_s,
        double_logged,
    )
    return report | {
        "executed_log_records": raw_executed,
        "worker_deliveries": len(deliveries),
        "redeliveries": sum(1 for _, attempt in deliveries if attempt > 1),
        "config": {
            "commands": n,
            "bursts": bursts,
            "pollers": pollers,
            "concurrency": concurrency,
            "retry_share": retry_share,
            "restart_share": restart_share,
            "pause_s": pause_s,
            "seed": seed,
        },
        "seconds": time.monotonic() - started,
    }


def _report(
    sent_commands: dict[int, tuple[Command, int]],
    results: list[dict[str, Any]],
    queued_jobs: set[str],
    not_queued: list[dict[str, Any]],
    watch: FinalWatch,
    executions: dict[str, list[Any]],
    step_records: list[tuple[str, int, str]],
    drained: bool,
    drain_s: float,
    double_logged: set[str],
) -> dict[str, Any]:
    by_job: dict[str, Command] = {c.job_id: c for c, _ in sent_commands.values()}
    unique_jobs = set(by_job)
    lost = sorted(queued_jobs - watch.finals.keys())
    duplicate_finals = {j: len(f) for j, f in watch.finals.items() if len(f) > 1}
    executed = sum(len(v) for v in executions.values())
    duplicate_executions = sum(len(v) - 1 for v in executions.values() if len(v) > 1)
    busy_refusals = sum(1 for v in executions.values() for e in v if e.busy)
    other_failures = [e.message for v in executions.values() for e in v if e.failed and not e.busy]
    steps: dict[tuple[str, int], int] = {}
    for job_id, step, _ in step_records:
        steps[(job_id, step)] = steps.get((job_id, step), 0) + 1
    duplicate_steps = sum(count - 1 for count in steps.values() if count > 1)
    unknown_executions = sorted(set(executions) - unique_jobs)
    # Every ack of these said "nothing was run" (the enqueue timed out), yet SQS had the message: they ran.
    told_not_queued = unique_jobs - queued_jobs
    ran_anyway = sorted(j for j in told_not_queued if j in executions or j in watch.finals)

    per_user: dict[str, dict[str, int]] = {u: {"jobs": 0, "messages": 0, "finals": 0, "busy": 0} for u in USERS}
    for job_id in queued_jobs:
        per_user[by_job[job_id].user_id]["jobs"] += 1
    for record in watch.messages:
        command = by_job.get(record.job_id or "")
        if command is None:
            continue
        per_user[command.user_id]["messages"] += 1
        if record.final:
            per_user[command.user_id]["finals"] += 1
            if "is busy" in record.text:
                per_user[command.user_id]["busy"] += 1
    silent_requesters = [u for u, v in per_user.items() if v["jobs"] and not v["finals"]]
    # A refused job must not have run: no message of its own but the refusal (a restart's run posts progress).
    busy_jobs = {j for j, v in executions.items() if any(e.busy for e in v)}
    busy_jobs_with_more = sorted(
        j for j in busy_jobs if sum(1 for r in watch.messages if r.job_id == j and "is busy" not in r.text) > 0
    )
    slack_busy = sum(v["busy"] for v in per_user.values())

    acks = [r["latency_ms"] for r in results if r["status"] == 200]
    ack = summarize(acks)
    retries_sent = sum(1 for _, retry in sent_commands.values() if retry)
    restarts_sent = sum(1 for c, _ in sent_commands.values() if c.command == "/ops-restart")
    ok = (
        not lost
        and duplicate_executions == 0
        and duplicate_steps == 0
        and not silent_requesters
        and not busy_jobs_with_more
        and drained
    )
    return {
        "ok": ok,
        "commands_sent": len(results),
        "retries_sent": retries_sent,
        "restarts_sent": restarts_sent,
        "unique_jobs": len(unique_jobs),
        "queued_jobs": len(queued_jobs),
        "not_queued_acks": len(not_queued),
        "not_queued_samples": not_queued[:5],
        "jobs_told_not_queued": len(told_not_queued),
        "jobs_told_not_queued_that_ran": len(ran_anyway),
        "executions": executed,
        "jobs_executed": len(executions),
        "duplicate_executions": duplicate_executions,
        "duplicate_samples": {
            j: [e.message for e in v] for j, v in list((k, v) for k, v in executions.items() if len(v) > 1)[:5]
        },
        "duplicate_step_runs": duplicate_steps,
        "executions_of_unknown_jobs": len(unknown_executions),
        "lost_jobs": len(lost),
        "lost_samples": lost[:10],
        "duplicate_final_messages": sum(v - 1 for v in duplicate_finals.values()),
        "busy_refusals": busy_refusals,
        "busy_jobs_that_also_ran": len(busy_jobs_with_more),
        "other_permanent_failures": len(other_failures),
        "other_permanent_failure_samples": sorted(set(other_failures))[:3],
        "runs_logged_twice": len(double_logged),
        "busy_messages_in_slack": slack_busy,
        "per_requester": per_user,
        "requesters_without_final": silent_requesters,
        "ack": ack,
        "ack_samples": acks,
        "drained": drained,
        "drain_s": drain_s,
    }


def section(report: dict[str, Any]) -> Section:
    """The load figures as a benchmark section (for run_all and the markdown file)."""
    c = report["config"]
    out = Section(
        key="load",
        title=f"Load: {report['commands_sent']} commands, {int(c['retry_share'] * 100)}% Slack retries, "
        f"a third /ops-restart on {len(SERVICES)} services, {c['pollers']} pollers",
        headers=["measure", "value"],
    )
    a = report["ack"]
    rows = [
        (
            "commands sent (of which Slack retries / restarts)",
            f"{report['commands_sent']} ({report['retries_sent']} / {report['restarts_sent']})",
        ),
        ("unique jobs / queued", f"{report['unique_jobs']} / {report['queued_jobs']}"),
        (
            "acks that said 'nothing was run' / their jobs that ran anyway",
            f"{report['not_queued_acks']} / {report['jobs_told_not_queued_that_ran']} of "
            f"{report['jobs_told_not_queued']}",
        ),
        (
            'executions / jobs executed ("executed" log records)',
            f"{report['executions']} / {report['jobs_executed']} ({report['executed_log_records']})",
        ),
        (
            "deliveries the worker saw (of which redeliveries, attempt >= 2)",
            f"{report['worker_deliveries']} ({report['redeliveries']})",
        ),
        (
            "duplicate executions / duplicate step runs",
            f"{report['duplicate_executions']} / {report['duplicate_step_runs']}",
        ),
        ("lost jobs (queued, no final message)", str(report["lost_jobs"])),
        ("other permanent failures (answered, not run)", str(report["other_permanent_failures"])),
        ("duplicate final messages", str(report["duplicate_final_messages"])),
        (
            "busy refusals (log / Slack) / refused jobs that ran anyway",
            f"{report['busy_refusals']} / {report['busy_messages_in_slack']} / {report['busy_jobs_that_also_ran']}",
        ),
        ("ack p50 / p99 / max (ms)", f"{fmt_ms(a['p50'])} / {fmt_ms(a['p99'])} / {fmt_ms(a['max'])}"),
        (
            "drain time (first send to last final message)",
            f"{report['drain_s']:.1f} s" + ("" if report["drained"] else " (timed out)"),
        ),
    ]
    for user, v in report["per_requester"].items():
        rows.append(
            (
                f"requester {user}: jobs / messages / finals (busy)",
                f"{v['jobs']} / {v['messages']} / {v['finals']} ({v['busy']})",
            )
        )
    out.rows = [list(r) for r in rows]
    out.samples = {f"load ack ({report['commands_sent']})": report["ack_samples"]}
    out.data = {k: v for k, v in report.items() if k != "ack_samples"}
    if report["runs_logged_twice"]:
        out.notes.append(
            f"{report['runs_logged_twice']} runs that failed permanently (a busy target, or another permanent "
            'error) logged "executed" twice: worker_function/dispatch.py `_run` falls through from its '
            "`except PermanentJobError` branch to the success line (and publishes the outcome metric twice, the "
            "second time as `succeeded`). Counted as one execution each: the refused jobs posted nothing but the "
            "refusal."
        )
    if report["other_permanent_failures"]:
        out.notes.append(
            "Other permanent failures, e.g.: " + "; ".join(f"`{m}`" for m in report["other_permanent_failure_samples"])
        )
    if report["jobs_told_not_queued_that_ran"]:
        out.notes.append(
            f"{report['jobs_told_not_queued_that_ran']} jobs ran although every ack of theirs said 'Could not queue "
            "... nothing was run': SendMessage reached moto but answered after the ack's 1 s read timeout. The ack "
            "cannot know after a timeout; its text claims more than it knows."
        )
    out.notes.append(
        f"Verdict: {'PASS' if report['ok'] else 'FAIL'} (passes with 0 lost, 0 duplicate executions and a final "
        f"message for every requester). {c['bursts']} bursts over {c['concurrency']} connections, "
        f"{c['pause_s']:g} s apart; {c['pollers']} pollers with their own worker instances; seed {c['seed']}."
    )
    out.seconds = report["seconds"]
    return out


def run(quick: bool) -> list[Section]:
    return [section(run_load(300 if quick else 1000))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--retry-share", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    if not 10 <= args.commands <= 5000 or not 1 <= args.bursts <= 100 or not 1 <= args.pollers <= 16:
        parser.error("--commands 10..5000, --bursts 1..100, --pollers 1..16")
    report = run_load(
        args.commands,
        bursts=args.bursts,
        pollers=args.pollers,
        concurrency=args.concurrency,
        retry_share=args.retry_share,
        seed=args.seed,
    )
    result = section(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(
        json.dumps(
            {"machine": machine_info(), **{k: v for k, v in report.items() if k != "ack_samples"}},
            indent=2,
            default=str,
        )
    )
    (args.out / "load.md").write_text(result.markdown() + "\n")
    print(result.markdown())
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
