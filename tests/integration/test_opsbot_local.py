"""`opsbot local` with the real ack and worker functions, driven from other processes as a person would."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("ack_function.handler") is None
        or importlib.util.find_spec("worker_function.handler") is None,
        reason="the ack and worker functions are not written yet",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def plugin_demo_commands() -> tuple[str, ...]:
    from infra.devstack.demo import plugin_demo_commands as commands

    return commands()


def opsbot(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_demo_runs_both_commands_to_their_final_messages(tmp_path):
    state = tmp_path / "local.json"

    result = opsbot("local", "--port", "0", "--demo", "--exit", "--state", str(state))

    assert result.returncode == 0, result.stdout + result.stderr
    sent = 2 + len(plugin_demo_commands())  # each installed plugin's demo commands after opsbot's two
    assert result.stdout.count("queued as job") == sent
    assert "demo: all commands finished" in result.stdout
    assert "Ctrl-C" not in result.stdout  # it exits by itself
    finals = [line for line in result.stdout.splitlines() if line.startswith("──") and " final " in line]
    assert len(finals) == sent
    assert not state.exists()
    # The README shows this run's /deploy-status part: the same lines, up to latencies, ids and times ("…"
    # where it leaves lines out).
    readme = (ROOT / "README.md").read_text().split("keeps serving until Ctrl-C:\n\n```\n", 1)[1].split("```")[0]
    shown = [normalized(line) for line in readme.splitlines() if line.strip() != "…"]
    printed = [normalized(line) for line in without_plugins(result.stdout.splitlines())]
    start = printed.index(shown[0])
    assert printed[start : start + len(shown)] == shown


def test_the_slack_page_takes_a_free_port_when_the_one_after_port_is_taken(tmp_path):
    import socket

    with socket.socket() as taken:
        for _ in range(50):  # a port N free, with N + 1 ours to hold
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            try:
                taken.bind(("127.0.0.1", port + 1))
                break
            except OSError:
                continue
        taken.listen()

        result = opsbot("local", "--port", str(port), "--demo", "--exit", "--state", str(tmp_path / "local.json"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "cannot serve the Slack page" not in result.stderr
    [page] = re.findall(r"Slack in a browser http://127\.0\.0\.1:(\d+)/", result.stdout)
    assert int(page) != port + 1
    assert f"127.0.0.1:{port}/slack/events" in result.stdout


def without_plugins(lines: list[str]) -> list[str]:
    """The demo's output without the part of the installed plugins' commands (the README shows opsbot's own)."""
    kept, skipping = [], False
    for line in lines:
        if line.startswith("> ") or line.startswith("demo: "):
            skipping = line[2:] in plugin_demo_commands()
        if not skipping:
            kept.append(line)
    return kept


def normalized(line: str) -> str:
    """A line of the demo's output without what changes from run to run."""
    for pattern, stand_in in (
        (r"in \d+ ms", "in N ms"),
        (r"`[0-9a-f]{8}`|job [0-9a-f]{8}", "JOB"),
        (r"response_url \S+", "response_url KEY"),
        (r"\d\d:\d\d:\d\d\.\d{3}", "TIME"),
        (r"started \d+s ago", "started Ns ago"),
    ):
        line = re.sub(pattern, stand_in, line)
    return line


def test_send_and_prompt_from_another_terminal_then_stop_with_sigterm(tmp_path):
    state = tmp_path / "local.json"
    local = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "--port", "0", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            assert local.poll() is None, local.communicate()
            assert time.monotonic() < deadline, "opsbot local did not write its state file"
            time.sleep(0.1)

        sent = opsbot("send", "/deploy-status payment", "--state", str(state), "--timeout", "30")
        usage = opsbot("send", "/deploy-status", "--state", str(state))
        prompt = subprocess.run(
            [sys.executable, "-m", "infra.cli", "prompt", "--state", str(state), "--timeout", "30"],
            input="/ops-ping\n/deploy-status checkout\n",
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
        )
    finally:
        local.send_signal(signal.SIGTERM)
        out, err = local.communicate(timeout=30)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "queued as job" in sent.stdout and "payment" in sent.stdout.split("queued as job")[1]
    assert usage.returncode == 4 and "not queued" in usage.stderr
    assert prompt.returncode == 0, prompt.stdout + prompt.stderr
    assert prompt.stdout.count("queued as job") == 2
    assert local.returncode == 0, err
    assert "payment" in out  # the stack's own terminal echoes what the local Slack received
    assert not state.exists()
