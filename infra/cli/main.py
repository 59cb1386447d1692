"""`opsbot`: run the local stack, and talk to it like Slack does.

opsbot local [--port 3000] [--demo [--exit]]   start everything on 127.0.0.1 and keep serving
opsbot send "/deploy-status payment"           send one slash command, follow it to its final message
opsbot prompt                                  type slash commands (or pipe them in)
opsbot dlq list|redrive [--job ID]             what is in the dead-letter queue; send it back to run
opsbot audit [--target NAME] [--table NAME]    the audit trail as JSON lines
opsbot manifest --url https://.../slack/events the Slack app manifest, generated from the commands
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from infra.devstack.client import CommandOutcome, Target, run_command
from infra.devstack.errors import CommandLineError, LocalStackError
from infra.devstack.state import default_state_path, read_state
from shared.settings import AUDIT_TABLE

EXIT_OK = 0
#: The command was not accepted: no ack, an HTTP error, or an ack that did not queue it.
EXIT_FAILED = 1
#: Bad input to the CLI (argparse uses 2 as well).
EXIT_USAGE = 2
#: Accepted and queued, but no final message before the timeout.
EXIT_TIMEOUT = 3

#: Stopped by Ctrl-C before the stack was up (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

DEMO_COMMANDS = ("/ops-ping", "/deploy-status payment")


def _exit_code(outcome: CommandOutcome) -> int:
    if outcome.ok:
        return EXIT_OK
    return EXIT_TIMEOUT if outcome.queued else EXIT_FAILED


def _say(out: TextIO) -> Callable[[str], None]:
    def emit(line: str) -> None:
        print(line, file=out, flush=True)

    return emit


def _target(args: argparse.Namespace) -> Target:
    """The stack to talk to: the state file of `opsbot local`, with --url/--secret/--slack-url on top."""
    if args.url and args.secret and args.slack_url:
        return Target(events_url=args.url, slack_url=args.slack_url.rstrip("/"), signing_secret=args.secret)
    state = read_state(args.state)
    return Target(
        events_url=args.url or state.events_url,
        slack_url=(args.slack_url or state.slack_url).rstrip("/"),
        signing_secret=args.secret or state.signing_secret,
    )


def cmd_local(args: argparse.Namespace) -> int:
    """`opsbot local`: start the stack, print where it is, maybe run the demo, serve until stopped."""
    from infra.devstack.stack import LocalStack

    out = sys.stdout
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both stop the stack in order (SIGINT may arrive ignored in a background job).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    app_token, bot_token = os.environ.get("SLACK_APP_TOKEN", ""), os.environ.get("SLACK_BOT_TOKEN", "")
    if args.socket_mode and not (app_token.startswith("xapp-") and bot_token.startswith("xoxb-")):
        raise CommandLineError(
            "--socket-mode needs SLACK_APP_TOKEN (xapp-..., an app-level token with connections:write) and "
            "SLACK_BOT_TOKEN (xoxb-...) of a Slack app with Socket Mode on (opsbot manifest --socket-mode)"
        )
    stack = LocalStack(
        port=args.port,
        echo=not args.quiet,
        out=out,
        state_path=args.state,
        log_level=args.log_level,
        slack_bot_token=bot_token if args.socket_mode else None,
    )
    try:
        stack.start()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ImportError as exc:
        print(f"opsbot local: cannot load a function's handler: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"opsbot local: cannot start: {exc} (is port {args.port} in use? try --port 0)", file=sys.stderr)
        return EXIT_FAILED
    try:
        state = stack.state
        if args.socket_mode:
            _connect_socket_mode(stack, app_token, out)
        print(
            f"opsbot local stack is up\n"
            f"  Slack request URL  {state.events_url}\n"
            f"  signing secret     {state.signing_secret}\n"
            f"  Slack API (local)  {state.slack_url}/api/\n"
            f"  AWS (moto)         {state.endpoint_url}\n"
            f"  jobs queue         {state.queue_url}\n"
            f"  state file         {args.state}\n"
            f'Try: opsbot send "/deploy-status payment"   (Ctrl-C to stop)',
            file=out,
            flush=True,
        )
        if args.demo:
            stack.slack.echo = False  # the demo prints each job's messages itself
            outcomes = [run_command(line, stack.target, timeout=args.timeout, emit=_say(out)) for line in DEMO_COMMANDS]
            stack.slack.echo = not args.quiet
            failed = [o.line for o in outcomes if not o.ok]
            summary = "all commands finished" if not failed else "FAILED: " + ", ".join(failed)
            print(f"demo: {summary}", file=out, flush=True)
            if args.exit:
                return EXIT_OK if not failed else EXIT_FAILED
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        print("opsbot local: stopping", file=out, flush=True)
        stack.stop()
    return EXIT_OK


def _connect_socket_mode(stack: Any, app_token: str, out: TextIO) -> None:
    """Receive the workspace's requests over Socket Mode and queue them on the local stack."""
    from infra.devstack.aws import aws_client
    from infra.devstack.socket_mode import socket_mode_handler
    from shared.queue import SqsJobQueue

    state = stack.state
    queue = SqsJobQueue(state.queue_url, client=aws_client("sqs", state.endpoint_url, state.region))
    socket_mode_handler(app_token, queue).connect()
    print("Socket Mode: connected; type the commands in your workspace.", file=out, flush=True)


def cmd_send(args: argparse.Namespace) -> int:
    """`opsbot send`: one command; 0 on its final message, 1 if not accepted, 3 on timeout."""
    outcome = run_command(
        args.command,
        _target(args),
        timeout=args.timeout,
        user_id=args.user,
        channel_id=args.channel,
        emit=_say(sys.stdout),
    )
    if outcome.error:
        print(f"opsbot send: {outcome.error}", file=sys.stderr)
    return _exit_code(outcome)


def cmd_prompt(args: argparse.Namespace) -> int:
    """`opsbot prompt`: a line per command until EOF or `quit`; 1 if any command failed."""
    target = _target(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Type a slash command (e.g. /ops-ping), `help`, or `quit`.", flush=True)
    failures = 0
    while True:
        try:
            line = input("opsbot> ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line in ("quit", "exit"):
            break
        if line in ("help", "?"):
            from shared.commands import COMMANDS
            from shared.messages import command_list

            print(command_list(COMMANDS), flush=True)
            continue
        try:
            outcome = run_command(
                line, target, timeout=args.timeout, user_id=args.user, channel_id=args.channel, emit=_say(sys.stdout)
            )
        except LocalStackError as exc:
            print(f"opsbot prompt: {exc}", file=sys.stderr, flush=True)
            failures += 1
            continue
        if not outcome.ok:
            failures += 1
            print(f"opsbot prompt: {outcome.line}: {outcome.error}", file=sys.stderr, flush=True)
    return EXIT_OK if failures == 0 else EXIT_FAILED


def cmd_dlq(args: argparse.Namespace) -> int:
    """List or redrive the DLQ of the local stack (state file) or of AWS (--queue-url/--dlq-url)."""
    import boto3

    from infra.cli.dlq import format_table, list_dead_jobs, redrive, to_json_lines
    from infra.devstack.aws import FAKE_CREDENTIALS

    if args.dlq_url:
        if args.action == "redrive" and not args.queue_url:
            raise CommandLineError("--queue-url is needed with --dlq-url to redrive")
        sqs = boto3.session.Session().client("sqs")
        dlq_url, queue_url = args.dlq_url, args.queue_url
    else:
        state = read_state(args.state)
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        sqs = session.client("sqs", region_name=state.region, endpoint_url=state.endpoint_url)
        dlq_url, queue_url = state.dlq_url, state.queue_url
    if args.action == "list":
        jobs = list_dead_jobs(sqs, dlq_url)
        print(to_json_lines(jobs) if args.json else format_table(jobs))
        return EXIT_OK
    moved = redrive(sqs, dlq_url, queue_url, job_id=args.job)
    print(format_table(moved) if moved else "Nothing to redrive.")
    if moved:
        print(f"Sent {len(moved)} job(s) back to the jobs queue; a job that already completed is not run again.")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    """Export the audit trail (JSON lines) of the local stack (state file) or of AWS (--table)."""
    import boto3

    from infra.cli.audit import audit_records, to_json_lines
    from infra.devstack.aws import FAKE_CREDENTIALS

    if args.table:
        dynamodb = boto3.session.Session().client("dynamodb")
        table = args.table
    else:
        state = read_state(args.state)
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        dynamodb = session.client("dynamodb", region_name=state.region, endpoint_url=state.endpoint_url)
        table = AUDIT_TABLE
    for line in to_json_lines(audit_records(dynamodb, table, target=args.target)):
        print(line)
    return EXIT_OK


def cmd_manifest(args: argparse.Namespace) -> int:
    import json

    from infra.cli.manifest import ManifestError, build_manifest, build_socket_mode_manifest

    try:
        manifest = build_socket_mode_manifest() if args.socket_mode else build_manifest(args.url)
    except ManifestError as exc:
        raise CommandLineError(str(exc)) from None
    print(json.dumps(manifest, indent=2))
    return EXIT_OK


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; a new subcommand is one more `sub.add_parser(...)` with its `func`."""
    parser = argparse.ArgumentParser(prog="opsbot", description="opsbot: ChatOps for Slack on AWS, locally.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="{local,send,prompt,dlq,audit,manifest}")

    local = sub.add_parser("local", help="run the whole stack on 127.0.0.1 until Ctrl-C")
    local.add_argument("--port", type=_port, default=3000, help="ingress port (0: any free port; default 3000)")
    local.add_argument("--demo", action="store_true", help="send /ops-ping and /deploy-status payment through it")
    local.add_argument("--exit", action="store_true", help="with --demo: exit after it (0 only if both finished)")
    local.add_argument("--timeout", type=_positive, default=30.0, help="seconds to wait for each demo job")
    local.add_argument("--quiet", action="store_true", help="do not print the messages the local Slack receives")
    local.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    local.add_argument(
        "--socket-mode",
        action="store_true",
        help="take requests from a real workspace over Socket Mode (SLACK_APP_TOKEN, SLACK_BOT_TOKEN)",
    )
    local.set_defaults(func=cmd_local)

    for name, help_text, func in (
        ("send", "send one slash command and follow its job", cmd_send),
        ("prompt", "type slash commands against the running stack (or pipe them on stdin)", cmd_prompt),
    ):
        p = sub.add_parser(name, help=help_text)
        if name == "send":
            p.add_argument("command", help='the slash command and its text, e.g. "/deploy-status payment"')
        p.add_argument("--timeout", type=_positive, default=30.0, help="seconds to wait for the final message")
        p.add_argument("--user", default="U0LOCALDEV", help="Slack user id of the sender")
        p.add_argument("--channel", default="C0LOCALOPS", help="Slack channel id it is sent from")
        p.add_argument("--url", help="the ingress's Slack request URL (default: from the state file)")
        p.add_argument("--secret", help="the signing secret (default: from the state file)")
        p.add_argument("--slack-url", help="the local Slack API base URL (default: from the state file)")
        p.set_defaults(func=func)

    dlq = sub.add_parser("dlq", help="list the dead-letter queue, or send its jobs back to run")
    dlq.add_argument("action", choices=["list", "redrive"])
    dlq.add_argument("--job", help="with redrive: only this job id (or its first characters)")
    dlq.add_argument("--json", action="store_true", help="with list: JSON lines")
    dlq.add_argument("--dlq-url", help="the DLQ on AWS (default: the local stack's, from the state file)")
    dlq.add_argument("--queue-url", help="the jobs queue on AWS, with --dlq-url to redrive")
    dlq.set_defaults(func=cmd_dlq)

    audit = sub.add_parser("audit", help="export the audit trail as JSON lines")
    audit.add_argument("--target", help="only this target's records, newest first")
    audit.add_argument("--table", help=f"the audit table on AWS (default: the local stack's {AUDIT_TABLE})")
    audit.set_defaults(func=cmd_audit)

    manifest = sub.add_parser("manifest", help="print the Slack app manifest for a request URL")
    target = manifest.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the Slack request URL (the stack's output RequestUrl)")
    target.add_argument("--socket-mode", action="store_true", help="for `opsbot local --socket-mode`: no URLs")
    manifest.set_defaults(func=cmd_manifest)

    for p in sub.choices.values():
        p.add_argument("--state", type=Path, default=default_state_path(), help="state file of `opsbot local`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `opsbot` console script."""
    args = build_parser().parse_args(argv)
    if args.cmd == "local" and args.exit and not args.demo:
        print("opsbot local: --exit only makes sense with --demo", file=sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except LocalStackError as exc:
        print(f"opsbot {args.cmd}: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, CommandLineError) else EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
