"""What every benchmark shares: statistics, signed events, recording clients, environments, sections."""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.settings import FUNCTION_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"

SIGNING_SECRET = "bench-signing-secret-0123456789ab"
BOT_TOKEN = "xoxb-bench"
TEAM_ID = "T0BENCH"
REGION = "us-east-1"

#: The request every ack benchmark sends (the seed article's own example).
BENCH_COMMAND = ("/ops-restart", "payment")


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between order statistics (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median_ci(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """A distribution-free ~95% confidence interval of the median (binomial order statistics)."""
    n = len(values)
    if n < 6:
        return (min(values), max(values)) if values else (math.nan, math.nan)
    ordered = sorted(values)
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half) - 1)
    return ordered[lo], ordered[hi]


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, p50 (+ its 95% CI), p90, p99, min, max of a sample."""
    if not values:
        return {"n": 0}
    lo, hi = median_ci(values)
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "p50": percentile(values, 50),
        "p50_ci": [lo, hi],
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def fmt_ms(value: float | None, digits: int | None = None) -> str:
    """Milliseconds with a precision that suits the size."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if digits is None:
        digits = 3 if abs(value) < 1 else 2 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


# -- results ---------------------------------------------------------------------------------


#: The time-to-answer goals, in the order `python -m bench` prints them as one table: key -> (figure, goal). A
#: benchmark's Target names its key (`Target.goal_key`); a goal no section of the run measured says so.
ANSWER_GOALS: dict[str, tuple[str, str]] = {
    "answer_cold": ("Time to answer, read-only, cold worker: opsbot / Bolt lazy", "<= 0.8x"),
    "answer_warm": ("Time to answer, read-only, warm: opsbot / Bolt lazy (the queue hop included)", "<= 1.0x"),
    "answer_restore": ("Worker restored from a snapshot: time to answer minus warm", "<= 50 ms"),
    "worker_init": ("Worker cold init: after / before", "<= 0.5x"),
    "ack_cold": ("Ack cold, as deployed (secret by ARN), Python 3.13: opsbot / Bolt lazy", "<= 0.6x"),
    "ack_restore": ("Ack SnapStart restore minus warm, network excluded, Python 3.13", "<= 5 ms"),
    "burst": ("Burst of 100 commands: time to last answer / (100 x one warm job / maximum concurrency)", "<= 1.5x"),
}


@dataclass
class Target:
    """One of the issues' targets, as measured in this run; `blocker`: what stands in the way when it is missed."""

    name: str
    goal: str
    measured: str
    met: bool | None
    blocker: str = ""
    #: Which of ANSWER_GOALS this target measures, if any.
    goal_key: str = ""

    def row(self) -> list[str]:
        verdict = {True: "met", False: "NOT met", None: "n/a"}[self.met]
        return [self.name, self.goal, self.measured, verdict, "" if self.met else self.blocker]


@dataclass
class Section:
    """What one benchmark reports: a markdown table, notes, targets, and raw samples for the chart."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    #: label -> sample values (ms), drawn in the chart.
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: Anything else worth keeping in results.json.
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", markdown_table(self.headers, self.rows)]
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "headers": self.headers,
            "rows": self.rows,
            "notes": self.notes,
            "targets": [t.__dict__ for t in self.targets],
            "summaries": {label: summarize(values) for label, values in self.samples.items()},
            "data": self.data,
            "seconds": round(self.seconds, 1),
        }


def goal_rows(targets: Iterable[Target]) -> list[list[str]]:
    """One row per goal of ANSWER_GOALS, in order: figure, goal, measured, met or what stands in the way."""
    by_key = {t.goal_key: t for t in targets if t.goal_key}
    rows = []
    for key, (figure, goal) in ANSWER_GOALS.items():
        found = by_key.get(key)
        if found is None:
            rows.append([figure, goal, "not measured in this run", "n/a"])
        else:
            verdict = {True: "met", False: "NOT met", None: "n/a"}[found.met]
            rows.append([figure, goal, found.measured, verdict if found.met else f"{verdict}: {found.blocker}"])
    return rows


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for dist in ("slack_bolt", "slack_sdk", "boto3", "botocore", "pydantic", "aws-lambda-powertools", "moto"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "versions": versions,
    }


# -- environments ----------------------------------------------------------------------------


def lambda_like_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment for a fresh "Lambda" process: fake credentials, no config files, no proxies."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Never read a laptop's ~/.aws, never ask an instance metadata service.
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "opsbot",
        "POWERTOOLS_METRICS_NAMESPACE": "opsbot",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **FUNCTION_ENVIRONMENT,  # what CDK sets on both functions
    }
    env.update(extra)
    return env


class scoped_env:
    """Set (value) or unset (None) environment variables for a `with` block, then restore them."""

    def __init__(self, values: Mapping[str, str | None]) -> None:
        self._values = dict(values)
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> scoped_env:
        for name, value in self._values.items():
            self._saved[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        return self

    def __exit__(self, *exc: object) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- Slack requests and Lambda events ------------------------------------------------------


def slash_command(
    command: str = BENCH_COMMAND[0],
    text: str = BENCH_COMMAND[1],
    *,
    response_url: str = "https://hooks.slack.com/commands/T0BENCH/1/x",
    user_id: str = "U0BENCH",
    trigger_id: str | None = None,
) -> Any:
    from infra.devstack.slack_request import SlashCommand, random_trigger_id

    return SlashCommand(
        command=command,
        text=text,
        response_url=response_url,
        user_id=user_id,
        user_name=user_id.lower(),
        team_id=TEAM_ID,
        trigger_id=trigger_id or random_trigger_id(),
    )


def signed_event(command: Any = None, secret: str = SIGNING_SECRET, *, retry_num: int | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event carrying a freshly signed slash command."""
    from infra.devstack.events import http_api_event
    from infra.devstack.slack_request import signed_slash_command

    request = signed_slash_command(command or slash_command(), secret)
    headers = dict(request.headers)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return http_api_event("POST", "/slack/events", headers, request.body, route_key="POST /slack/events")


def fresh_events(n: int, **kwargs: Any) -> list[dict[str, Any]]:
    """n signed events, each with its own trigger_id (Bolt adapters mutate events, so never reuse one)."""
    return [signed_event(slash_command(**kwargs)) for _ in range(n)]


@dataclass
class FakeContext:
    """The Lambda context object (what Bolt's adapter and Powertools read)."""

    function_name: str = "bench-ack"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench-ack"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb: int = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# -- recording clients: the queue without its network --------------------------------------


class RecordingSqsClient:
    """Stands in for boto3's SQS client on the ack path: records SendMessage, no network."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"MessageId": f"m-{len(self.sent)}"}


class RecordingLambdaClient:
    """Stands in for boto3's Lambda client in Bolt's lazy runner: records Invoke, no network."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append(kwargs)
        return {"StatusCode": 202}


def build_opsbot_handler(queue: Any, secret: str = SIGNING_SECRET) -> Any:
    """opsbot's Bolt app (`ack_function.app.build_app`) on the given queue, in the ack's adapter.

    build_app takes the signing secret (or, in earlier revisions, `AckSettings`): both are handled; revisions
    without `ack_function.adapter` used Bolt's Lambda adapter."""
    import inspect

    try:
        from ack_function.adapter import SlackRequestHandler
    except ImportError:  # an earlier revision
        from slack_bolt.adapter.aws_lambda import SlackRequestHandler  # type: ignore[assignment]

    from ack_function.app import build_app

    first = next(iter(inspect.signature(build_app).parameters))
    if first == "settings":
        from shared.settings import AckSettings

        settings = AckSettings(slack_signing_secret=secret, jobs_queue_url="https://sqs.invalid/q")
        app = build_app(settings, queue)  # type: ignore[arg-type]  # an earlier revision's signature
    else:
        app = build_app(secret, queue)
    return SlackRequestHandler(app)


# -- timing ------------------------------------------------------------------------------------


def time_calls(call: Callable[[Any], Any], inputs: Sequence[Any]) -> list[float]:
    """Milliseconds of `call(x)` for each input, in order."""
    out = []
    clock = time.perf_counter_ns
    for item in inputs:
        started = clock()
        call(item)
        out.append((clock() - started) / 1e6)
    return out


def copies(event: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    return [copy.deepcopy(dict(event)) for _ in range(n)]


def run_json_subprocess(args: Sequence[str], *, env: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Run a child that prints one JSON object on its last stdout line; raise with its stderr otherwise."""
    result = subprocess.run(
        list(args), env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def python() -> str:
    return sys.executable


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
