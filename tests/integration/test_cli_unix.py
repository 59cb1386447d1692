"""`opsbot` as a Unix tool, against a real `opsbot local` (real ack and worker, moto): each CLI call is a
subprocess with real pipes and real exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from infra.cli.main import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from infra.devstack._http import urlopen
from infra.devstack.aws import FAKE_CREDENTIALS
from infra.devstack.state import StackState

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("ack_function.handler") is None, reason="the ack function is not written yet"
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def environment(cache: Path, **extra: str) -> dict[str, str]:
    """This process's environment with its own state directory and no signing secret of the caller's."""
    env = {k: v for k, v in os.environ.items() if k != "SLACK_SIGNING_SECRET"}
    return {**env, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT), **extra}


def opsbot(cache: Path, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=environment(cache, **env),
    )


def start_local(cache: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "--port", "0", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment(cache),
    )


def wait_for_states(cache: Path, count: int, local: subprocess.Popen[str], timeout: float = 90) -> list[Path]:
    deadline = time.monotonic() + timeout
    while len(found := sorted((cache / "opsbot").glob("local-*.json"))) < count:
        assert local.poll() is None, local.communicate()
        assert time.monotonic() < deadline, "opsbot local did not write its state file"
        time.sleep(0.1)
    return found


def stop(local: subprocess.Popen[str]) -> None:
    if local.poll() is None:
        local.send_signal(signal.SIGTERM)
        local.communicate(timeout=60)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One running stack for the module, its state file in a state directory of its own."""
    cache = tmp_path_factory.mktemp("cache")
    local = start_local(cache)
    try:
        wait_for_states(cache, 1, local)
        yield cache
    finally:
        stop(local)


def state_of(cache: Path) -> StackState:
    [path] = sorted((cache / "opsbot").glob("local-*.json"))
    return StackState.model_validate_json(path.read_text())


def test_version_and_the_exit_codes_in_help(tmp_path):
    version = opsbot(tmp_path, "--version")
    helped = opsbot(tmp_path, "send", "--help")

    assert version.returncode == 0 and version.stdout.startswith("opsbot 0.")
    assert helped.returncode == 0
    assert "  0    a job ran and succeeded" in helped.stdout
    assert "  4    refused, nothing was run" in helped.stdout and "  3    not answered" in helped.stdout
    assert "  5    waiting for someone else" in helped.stdout


def test_send_finds_the_one_running_stack_and_exits_0_with_json(cache):
    sent = opsbot(cache, "send", "/deploy-status payment", "--json")

    assert sent.returncode == EXIT_OK, sent.stdout + sent.stderr
    result = json.loads(sent.stdout)
    assert result["result"] == "succeeded" and result["exit_code"] == 0 and result["ack"]["status"] == 200
    assert "queued as job" in result["ack"]["text"] and result["job"]
    assert result["messages"][-1]["final"] and "Deploy status of `payment`" in result["messages"][-1]["text"]


def test_a_refused_command_exits_4(cache):
    sent = opsbot(cache, "send", "/ops-restart nosuch")  # the ack knows the inventory: refused, nothing queued

    assert sent.returncode == EXIT_REFUSED, sent.stdout + sent.stderr
    assert "`/ops-restart nosuch` was not queued" in sent.stdout and "I don't know target 'nosuch'" in sent.stdout


def test_a_wrong_secret_in_the_environment_wins_and_is_named(cache):
    sent = opsbot(cache, "send", "/ops-ping", SLACK_SIGNING_SECRET="not-the-stacks")

    assert sent.returncode == EXIT_REFUSED
    assert "the signing secret does not match the stack's" in sent.stderr
    assert "came from SLACK_SIGNING_SECRET" in sent.stderr


def test_a_mention_is_answered_in_its_thread(cache):
    # a channel of the demo workspace the bot is in (Slack sends app_mention only from those)
    sent = opsbot(cache, "send", "--mention", "deploy-status payment", "--json", "--channel", "C0INCIDENT")

    assert sent.returncode == EXIT_OK, sent.stdout + sent.stderr
    result = json.loads(sent.stdout)
    [final] = [m for m in result["messages"] if m["final"]]
    assert final["kind"] == "chat.postMessage" and final["channel"] == "C0INCIDENT" and final["thread_ts"]
    assert "Deploy status of `payment`" in final["text"]


def test_prompt_takes_slash_commands_and_mentions_from_a_pipe(cache):
    prompt = subprocess.run(
        [sys.executable, "-m", "infra.cli", "prompt"],
        input="/ops-ping\n@opsbot deploy-status checkout\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=environment(cache),
    )

    assert prompt.returncode == EXIT_OK, prompt.stdout + prompt.stderr
    assert "pong" in prompt.stdout and "Deploy status of `checkout`" in prompt.stdout
    assert " · thread " in prompt.stdout  # the mention's answer came in its thread


def test_cancel_answers_a_prompt_with_cancel_and_nothing_runs(cache):
    sent = opsbot(cache, "send", "/ops-migrate payment 2024.06.1", "--cancel")

    assert sent.returncode == EXIT_REFUSED, sent.stdout + sent.stderr
    assert "clicking Cancel" in sent.stdout and "was cancelled. Nothing was run." in sent.stdout
    audit = opsbot(cache, "audit", "--target", "payment", "--json")
    migrations = [r for r in map(json.loads, audit.stdout.splitlines()) if r["command"] == "/ops-migrate"]
    assert "cancelled" in {r["event"] for r in migrations}
    assert "started" not in {r["event"] for r in migrations}


def test_a_closed_pipe_ends_quietly(cache):
    send = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "send", "/ops-ping 2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment(cache),
    )
    assert send.stdout is not None
    first = send.stdout.readline()  # `| head -1`
    send.stdout.close()
    _, err = send.communicate(timeout=60)

    assert first.startswith("> /ops-ping 2")
    assert send.returncode == EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_filters_that_match_nothing_say_so_and_what_there_is(cache):
    opsbot(cache, "send", "/ops-status payment")
    audit = opsbot(cache, "audit", "--target", "neverseen")
    redrive = opsbot(cache, "dlq", "redrive", "--job", "deadbeef")
    listed = opsbot(cache, "dlq", "list", "--json")

    assert audit.returncode == EXIT_FAILED and audit.stdout == ""
    assert "no audit records for target neverseen; targets with records: " in audit.stderr and "payment" in audit.stderr
    assert redrive.returncode == EXIT_FAILED
    assert "no job deadbeef in the dead-letter queue; it holds nothing: it is empty" in redrive.stderr
    assert listed.returncode == EXIT_OK and listed.stdout == ""


def test_redrive_of_another_job_names_what_the_dlq_holds(cache):
    state = state_of(cache)
    sqs = boto3.session.Session(**FAKE_CREDENTIALS).client(
        "sqs", region_name=state.region, endpoint_url=state.endpoint_url
    )
    sqs.send_message(QueueUrl=state.dlq_url, MessageBody="not a job")
    try:
        redrive = opsbot(cache, "dlq", "redrive", "--job", "deadbeef")
        listed = opsbot(cache, "dlq", "list", "--json")
    finally:
        sqs.purge_queue(QueueUrl=state.dlq_url)

    assert redrive.returncode == EXIT_FAILED
    assert "no job deadbeef in the dead-letter queue; it holds message " in redrive.stderr
    assert "(not a job;" in redrive.stderr and "?" not in redrive.stderr
    [dead] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert dead["job_id"] == "?"


def test_two_stacks_keep_their_own_state_and_a_killed_one_takes_its_children_along(cache):
    second = start_local(cache)
    try:
        paths = wait_for_states(cache, 2, second)
        ambiguous = opsbot(cache, "send", "/ops-ping")
        states = {p: StackState.model_validate_json(p.read_text()) for p in paths}
        [(mine, mine_state)] = [(p, s) for p, s in states.items() if s.pid == second.pid]
        [(other, _)] = [(p, s) for p, s in states.items() if s.pid != second.pid]
        chosen = opsbot(cache, "send", "/ops-ping", "--state", str(other))

        second.kill()  # kill -9: no chance to clean up
        second.wait(timeout=30)
        moto_gone = _stops_answering(mine_state.endpoint_url, timeout=30)
        after = opsbot(cache, "send", "/ops-ping")
    finally:
        stop(second)

    assert ambiguous.returncode == EXIT_FAILED
    assert "2 local stacks are running, pick one: --state " in ambiguous.stderr
    assert chosen.returncode == EXIT_OK, chosen.stderr
    assert moto_gone, "the killed stack's moto server is still running"
    assert after.returncode == EXIT_OK, after.stderr  # the stale file is cleaned, the one running stack found
    assert not mine.exists() and other.exists()


def _stops_answering(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urlopen(f"{url}/moto-api/", timeout=1).close()
        except (urllib.error.URLError, OSError):
            return True
        time.sleep(0.2)
    return False
