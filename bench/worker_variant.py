"""One worker variant's `/ops-ping` jobs/s, in a process of its own: `python bench/worker_variant.py TREE CONFIG OUT`.

Run by `bench/worker.py` for the "before" variant (a `git archive` of the revision this branch started from)
and the "after" one (this tree), one after the other, against the same moto server and local Slack API. The
script is run by path and puts TREE first on `sys.path`, so `worker_function`, `shared`, `ack_function` and
`bench.worker`'s helpers (`queued_bodies`, `dispatcher_for`, which both revisions have) are TREE's own.
It counts, in this process only: DynamoDB calls by operation (a botocore `before-call` hook) of the measured
jobs, and over its whole life AWS requests (`before-send`) and TCP connects by destination port
(`socket.connect` audit events).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


def main(tree: str, config_path: str, out_path: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [tree] + [p for p in sys.path if os.path.abspath(p or ".") != here]
    config: dict[str, Any] = json.loads(Path(config_path).read_text())
    ports = {int(port): name for name, port in config["ports"].items()}
    connects: Counter[str] = Counter()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and isinstance(args[1], tuple) and len(args[1]) >= 2 and args[1][1] in ports:
            connects[ports[args[1][1]]] += 1

    sys.addaudithook(audit)

    import boto3

    from bench.worker import dispatcher_for, queued_bodies
    from infra.devstack.aws import FAKE_CREDENTIALS

    dynamodb: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    session = boto3.session.Session(**FAKE_CREDENTIALS)

    def before_call(model: Any, **_: Any) -> None:
        if model.service_model.service_name == "dynamodb":
            dynamodb[model.name] += 1

    session.events.register("before-call", before_call)
    session.events.register("before-send", lambda **_: requests.update(["aws"]))
    n, warm = int(config["n"]), int(config["warm"])
    values = dict(config["values"])
    if config.get("demo_cluster"):  # the demo inventory as TREE's own code writes it (where TREE has one)
        try:
            from infra.devstack.demo import demo_inventory_toml
        except ImportError:
            pass
        else:
            inventory = Path(out_path).with_name("variant-inventory.toml")
            inventory.write_text(demo_inventory_toml(config["demo_cluster"]))
            values["inventory_path"] = str(inventory)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # the EMF metric lines
        worker = dispatcher_for(values, session)
        bodies = queued_bodies([("/ops-ping", "0")] * (warm + n), config["response_base"])
        for body in bodies[:warm]:
            worker.handle_record(body, 1)
        dynamodb.clear()
        started = time.perf_counter()
        for body in bodies[warm:]:
            worker.handle_record(body, 1)
        seconds = time.perf_counter() - started
    result = {
        "jobs": n,
        "seconds": seconds,
        "jobs_per_s": n / seconds,
        "dynamodb_per_job": {op: count / n for op, count in sorted(dynamodb.items())},
        #: Over the process's whole life (warm-up included): its first connections are counted.
        "all_jobs": warm + n,
        "aws_requests": requests["aws"],
        "connects": dict(connects),
    }
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
