"""`opsbot send` and `opsbot prompt` against a real ingress and local Slack, with a fake ack function
that verifies the signature, acks, and answers on the response_url the way the worker does."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from infra.cli.main import EXIT_FAILED, EXIT_NOT_ANSWERED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from infra.devstack.aws import free_port
from infra.devstack.ingress import Ingress
from infra.devstack.slack_api import SlackApiServer
from infra.devstack.state import StackState, write_state

pytestmark = pytest.mark.integration

SECRET = "cli-test-secret"
ROOT = Path(__file__).resolve().parents[2]


def answer(response_url: str, text: str, job_id: str, *, final: bool) -> None:
    body = {
        "text": text,
        "response_type": "ephemeral",
        "replace_original": False,
        "metadata": {"event_type": "opsbot_job", "event_payload": {"job_id": job_id, "final": final}},
    }
    request = urllib.request.Request(
        response_url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()


@dataclass
class FakeAckFunction:
    """Verifies like Bolt, acks like opsbot; `mode` picks the behaviour:
    done (progress + final), silent (queued, never answers), refuse (not queued), fail (a final `:x:`), busy
    (a final `:no_entry:`: refused by the worker)."""

    mode: str = "done"
    requests: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        if not SignatureVerifier(SECRET).is_valid_request(raw, event["headers"]):
            return {"statusCode": 401, "body": "invalid request", "headers": {}}
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        self.requests.append(form)
        if self.mode == "refuse":
            return self._ack(f":question: I don't know `{form['command']}`.")
        job_id = secrets.token_hex(16)
        final = {
            "done": f"done: {form['text']}",
            "fail": f":x: `{form['command']}` failed (job `{job_id[:8]}`): boom",
            "busy": f":no_entry: `{form['text']}` is busy: `/ops-restart {form['text']}` by <@U1> since 10:00 UTC",
        }.get(self.mode)
        if final is not None:

            def work() -> None:
                answer(form["response_url"], "working…", job_id, final=False)
                answer(form["response_url"], final, job_id, final=True)

            threading.Timer(0.05, work).start()
        return self._ack(f"`{form['command']}` is queued as job `{job_id[:8]}`.")

    @staticmethod
    def _ack(text: str) -> dict[str, Any]:
        return {
            "statusCode": 200,
            "body": json.dumps({"response_type": "ephemeral", "text": text}),
            "headers": {"Content-Type": "application/json"},
        }


@pytest.fixture
def ack() -> FakeAckFunction:
    return FakeAckFunction()


@pytest.fixture
def state_file(tmp_path: Path, ack: FakeAckFunction) -> Iterator[Path]:
    with SlackApiServer() as slack, Ingress(ack) as ingress:
        path = tmp_path / "local.json"
        write_state(
            path,
            StackState(
                ingress_url=ingress.url,
                events_url=ingress.events_url,
                slack_url=slack.url,
                signing_secret=SECRET,
                queue_url="q",
                dlq_url="d",
                endpoint_url="e",
                region="us-east-1",
                pid=0,
            ),
        )
        yield path


def test_send_shows_ack_and_messages_and_exits_0_on_the_final_one(state_file, ack, capsys):
    code = main(["send", "/deploy-status payment", "--state", str(state_file), "--user", "U777"])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "> /deploy-status payment" in out
    assert "ack 200 in " in out and "queued as job" in out
    assert out.index("working…") < out.index("done: payment")
    headers = [line for line in out.splitlines() if line.startswith("── response_url")]
    assert len(headers) == 2 and "progress" in headers[0] and "final" in headers[1]
    [request] = ack.requests
    assert request["user_id"] == "U777" and request["command"] == "/deploy-status" and request["text"] == "payment"
    assert request["response_url"].startswith("http://127.0.0.1:")


def test_send_exits_non_zero_when_not_queued(state_file, ack, capsys):
    ack.mode = "refuse"

    code = main(["send", "/nope", "--state", str(state_file)])

    assert code == EXIT_REFUSED
    captured = capsys.readouterr()
    assert "I don't know" in captured.out and "not queued" in captured.err


def test_send_times_out_without_a_final_message(state_file, ack, capsys):
    ack.mode = "silent"

    code = main(["send", "/ops-ping", "--state", str(state_file), "--timeout", "0.5"])

    assert code == EXIT_NOT_ANSWERED
    captured = capsys.readouterr()
    assert captured.err.count("no final message") == 1  # said once, on stderr only
    assert "no final message" not in captured.out


@pytest.mark.parametrize(("mode", "code"), [("fail", EXIT_FAILED), ("busy", EXIT_REFUSED), ("done", EXIT_OK)])
def test_the_exit_code_says_whether_the_job_ran_and_succeeded(state_file, ack, capsys, mode, code):
    ack.mode = mode

    assert main(["send", "/ops-restart", "--state", str(state_file)]) == code


def test_send_with_a_wrong_secret_says_the_signing_secret_does_not_match(state_file, ack, capsys):
    code = main(["send", "/ops-ping", "--state", str(state_file), "--secret", "wrong"])

    assert code == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "the signing secret does not match the stack's" in err and "came from --secret" in err
    assert ack.requests == []


def test_slack_signing_secret_in_the_environment_wins_over_the_state_file(state_file, ack, capsys, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-the-environment")

    code = main(["send", "/ops-ping", "--state", str(state_file)])

    assert code == EXIT_REFUSED
    assert "came from SLACK_SIGNING_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    assert main(["send", "/ops-ping", "--state", str(state_file)]) == EXIT_OK


def test_send_to_nothing_listening_fails_clearly(tmp_path, capsys):
    port = free_port()

    code = main(
        [
            "send",
            "/ops-ping",
            "--url",
            f"http://127.0.0.1:{port}/slack/events",
            "--secret",
            "s",
            "--slack-url",
            f"http://127.0.0.1:{port}",
            "--state",
            str(tmp_path / "none.json"),
        ]
    )

    assert code == EXIT_NOT_ANSWERED
    assert "no answer from" in capsys.readouterr().err


def test_send_without_a_running_stack_says_how_to_start_one(tmp_path, capsys):
    code = main(["send", "/ops-ping", "--state", str(tmp_path / "none.json")])

    assert code == EXIT_FAILED
    assert "opsbot local" in capsys.readouterr().err


def test_send_refuses_text_that_is_not_a_slash_command(state_file, ack, capsys):
    code = main(["send", "deploy-status payment", "--state", str(state_file)])

    assert code == EXIT_USAGE
    assert "not a slash command" in capsys.readouterr().err
    assert ack.requests == []


def test_bad_arguments_exit_2_with_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["send", "/ops-ping", "--timeout", "-3"])

    assert exited.value.code == EXIT_USAGE
    assert "must be greater than 0" in capsys.readouterr().err


def test_exit_without_demo_is_refused(capsys):
    assert main(["local", "--exit"]) == EXIT_USAGE
    assert "--demo" in capsys.readouterr().err


def test_fault_rules_that_do_not_parse_are_refused_before_anything_starts(capsys):
    assert main(["local", "--port", "0", "--faults", "service=dynamodb,mode=explode"]) == EXIT_USAGE
    assert "--faults: unknown fault mode 'explode'" in capsys.readouterr().err


def run_prompt(state_file: Path, stdin_text: str) -> subprocess.CompletedProcess[str]:
    """`opsbot prompt` in its own process with commands piped on stdin, as from a shell."""
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "prompt", "--state", str(state_file), "--timeout", "5"],
        input=stdin_text,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_prompt_runs_piped_commands(state_file, ack):
    result = run_prompt(state_file, "/ops-ping\n\n# a comment\n/deploy-status checkout\n")

    assert result.returncode == EXIT_OK, result.stderr
    assert [r["command"] for r in ack.requests] == ["/ops-ping", "/deploy-status"]
    assert result.stdout.count("done:") == 2


def test_prompt_exits_non_zero_if_any_command_failed(state_file, ack):
    result = run_prompt(state_file, "/ops-ping\nnot-a-command\n/ops-ping\n")

    assert result.returncode == EXIT_USAGE
    assert len(ack.requests) == 2
    assert "not a slash command" in result.stderr


def test_local_refuses_a_state_file_a_running_stack_uses(state_file):
    """A second stack on the same --state would overwrite the first one's file, then delete it."""
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "local", "--port", "0", "--state", str(state_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )

    assert result.returncode == EXIT_USAGE
    assert f"the state file {state_file} belongs to a running stack" in result.stderr
    assert state_file.exists()


def test_with_several_stacks_running_a_person_at_a_terminal_is_asked_which(state_file, ack, tmp_path):
    """stdin and stderr on a pseudo-terminal, stdout a pipe: the question goes to the terminal only."""
    import os
    import pty

    cache = tmp_path / "cache"
    real = StackState.model_validate_json(state_file.read_text()).model_copy(update={"pid": os.getpid()})
    write_state(cache / "opsbot" / "local-1.json", real.model_copy(update={"events_url": "http://127.0.0.1:9/x"}))
    write_state(cache / "opsbot" / "local-2.json", real)
    controller, terminal = pty.openpty()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("SLACK_SIGNING_SECRET", None)
    send = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "send", "/ops-ping", "--timeout", "10"],
        stdin=terminal,
        stderr=terminal,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    os.close(terminal)
    asked = b""
    while b"which one (1-2)?" not in asked:
        asked += os.read(controller, 1024)
    os.write(controller, b"2\n")
    out, _ = send.communicate(timeout=60)
    os.close(controller)

    assert send.returncode == EXIT_OK, out
    assert b"local-1.json" in asked and b"local-2.json" in asked
    assert "which one" not in out and "done: " in out
    assert [r["command"] for r in ack.requests] == ["/ops-ping"]
