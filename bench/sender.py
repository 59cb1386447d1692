"""Plays Slack sending bursts of signed requests to an ingress, from its own process (so the stack under
test does not share its interpreter and GIL with the load). Run by bench/stackkit.py:

    python bench/sender.py <spec.json> <results.json>

spec: {"url": ..., "concurrency": C, "pause_s": s, "timeout_s": t, "bursts": [[{"id", "body", "headers"}, ...], ...]}
Each burst is handed to C connections at once; the next burst starts `pause_s` after the last answer.
results: {"t_first_send": wall time, "results": [{"id", "status", "latency_ms", "body", "t_send", "error"}]}
Bounded: every request has a timeout, and there are as many requests as the spec lists.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit


def send_one(url: str, item: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    parts = urlsplit(url)
    t_send = time.time()
    started = time.perf_counter()
    out: dict[str, Any] = {"id": item["id"], "t_send": t_send, "status": None, "body": "", "error": None}
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        connection.request("POST", parts.path, body=item["body"].encode(), headers=item["headers"])
        response = connection.getresponse()
        out["body"] = response.read().decode(errors="replace")[:2000]
        out["status"] = response.status
    except OSError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    out["latency_ms"] = (time.perf_counter() - started) * 1000
    return out


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    results: list[dict[str, Any]] = []
    t_first = time.time()
    with ThreadPoolExecutor(max_workers=spec["concurrency"]) as pool:
        for index, burst in enumerate(spec["bursts"]):
            if index and spec.get("pause_s"):
                time.sleep(spec["pause_s"])
            futures = [pool.submit(send_one, spec["url"], item, spec.get("timeout_s", 10.0)) for item in burst]
            results.extend(f.result() for f in futures)
    with open(sys.argv[2], "w") as handle:
        json.dump({"t_first_send": t_first, "results": results}, handle)
    print(json.dumps({"sent": len(results)}))


if __name__ == "__main__":
    main()
