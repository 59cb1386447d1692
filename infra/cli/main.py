"""`opsbot`: run the local stack, and talk to it like Slack does.

opsbot local [--port 3000] [--demo [--exit]]   start everything on 127.0.0.1 and keep serving
opsbot local --aws-endpoint URL --inventory F  the same against your AWS endpoint, with your inventory
opsbot send "/deploy-status payment"           send one slash command, follow it to its final message
opsbot send --mention "deploy-status payment"  the same as an @opsbot mention, answered in its thread
opsbot prompt                                  type slash commands (or pipe them in)
opsbot alarm payment-5xx ALARM [--via eventbridge]  fire the demo alarm (its message lands in #incident)
opsbot click "/ops-status payment" --user U0DANA  click its runbook button as dana, follow what it runs
opsbot dlq list|redrive [--job ID]             what is in the dead-letter queue; send it back to run
opsbot audit [--target NAME] [--json]          the audit trail, newest first (a table; --json: JSON lines)
opsbot manifest --url https://.../slack/events the Slack app manifest, generated from the commands
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from infra.cli.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_ANSWERED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    EXIT_WAITING,
    RESULT_CODES,
    exit_codes_help,
)
from infra.devstack.client import CommandOutcome, Result, Target, run_command, run_mention
from infra.devstack.demo import DEMO_USERS, plugin_demo_commands
from infra.devstack.errors import CommandLineError, LocalStackError, SeveralStacksError, StateFileError
from infra.devstack.state import StackState, find_state, read_state, state_path_for
from shared.settings import AUDIT_TABLE

EXIT_TIMEOUT = EXIT_NOT_ANSWERED
EXIT_CODES = RESULT_CODES
EXIT_CODES_HELP = f"""{exit_codes_help()}
send, prompt and click exit with what became of the request; local exits {EXIT_FAILED} when it cannot start,
dlq and audit when a filter (--job, --target) matches nothing.

SLACK_SIGNING_SECRET, when set, wins over the state file's secret (--secret wins over both).
Without --state, the CLI uses the one running stack's state file ($XDG_CACHE_HOME/opsbot/local-PORT.json,
~/.cache/opsbot/ by default; private to its user) and asks which when several run."""

AUDIT_HELP = (
    "The audit trail, newest first: a table a person reads (when, target, event, who, command, job, detail), "
    "or with --json one JSON object a line for scripts."
)

__all__ = [  # the exit codes, importable from here as before (their table is infra.cli.exit_codes)
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ANSWERED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "build_parser",
    "main",
]

DEMO_COMMANDS = ("/ops-ping", "/deploy-status payment")


#: What the line on stderr says for each result that is not a success (the exit code says it to scripts).
_RESULT_LINES = {
    "failed": "failed",
    "refused": "refused: nothing was run",
    "not answered": "not answered",
    "waiting": "waiting for someone else: sent for a second person's approval; nothing ran yet, it runs once "
    "they approve",
}


def _exit_code(result: Result) -> int:
    return RESULT_CODES[result]


def _result_line(outcome: CommandOutcome) -> str:
    return outcome.error or _RESULT_LINES.get(outcome.result, outcome.result)


def _say(out: TextIO) -> Callable[[str], None]:
    def emit(line: str) -> None:
        print(line, file=out, flush=True)

    return emit


def _target(args: argparse.Namespace) -> Target:
    """The stack to talk to: --url/--secret/--slack-url over SLACK_SIGNING_SECRET over the state file."""
    env_secret = os.environ.get("SLACK_SIGNING_SECRET")
    secret, source = (args.secret, "--secret") if args.secret else (env_secret, "SLACK_SIGNING_SECRET")
    if args.url and secret and args.slack_url:
        return Target(args.url, args.slack_url.rstrip("/"), secret, secret_source=source)
    path = _find_state(args.state)
    state = read_state(path)
    return Target(
        events_url=args.url or state.events_url,
        slack_url=(args.slack_url or state.slack_url).rstrip("/"),
        signing_secret=secret or state.signing_secret,
        secret_source=source if secret else f"the state file {path}",
    )


def _state(args: argparse.Namespace) -> StackState:
    return read_state(_find_state(args.state))


def _find_state(explicit: Path | None) -> Path:
    """The state file to use; with several stacks running, a person at a terminal is asked which."""
    try:
        return find_state(explicit)
    except SeveralStacksError as several:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise
        for number, path in enumerate(several.paths, start=1):
            print(f"  {number}  {path}", file=sys.stderr)
        print(f"Several local stacks are running; which one (1-{len(several.paths)})? ", end="", file=sys.stderr)
        sys.stderr.flush()
        answer = sys.stdin.readline().strip()
        if not answer.isdigit() or not 1 <= int(answer) <= len(several.paths):
            raise CommandLineError(f"not one of 1-{len(several.paths)}: {answer!r}") from None
        return Path(several.paths[int(answer) - 1])


def _iam_line(stack: Any) -> str:
    if not stack.credentials:
        return "not enforced (admin credentials)"
    return "each function under its deployed role: " + ", ".join(
        f"{function} {role.role_name}" for function, role in sorted(stack.credentials.items())
    )


def _fault_rules(text: str | None) -> list[Any] | None:
    """`--faults`: the fault proxy's rules, or a usage error naming what is wrong with them."""
    if not text:
        return None
    from infra.devstack.fault_proxy import parse_rules

    try:
        return list(parse_rules(text))
    except (TypeError, ValueError) as exc:
        raise CommandLineError(f"--faults: {exc}") from None


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
    if args.state is not None:
        _refuse_a_state_file_in_use(args.state)
    stack = LocalStack(
        port=args.port,
        echo=not args.quiet,
        out=out,
        state_path=args.state,
        log_level=args.log_level,
        slack_bot_token=bot_token if args.socket_mode else None,
        aws_endpoint=args.aws_endpoint,
        inventory_path=args.inventory,
        iam={"auto": None, "on": True, "off": False}[args.iam],
        slack_strict=not args.lenient_slack,
        faults=_fault_rules(args.faults),
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
    from infra.devstack.web_client import WebSlack

    try:
        web = _serve_the_page(WebSlack, stack, args)
    except OSError as exc:
        stack.stop()
        print(f"opsbot local: cannot serve the Slack page on port {args.web_port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if stack.state_path is None:
            stack.publish_state(state_path_for(stack.ingress_port))
        state = stack.state
        if args.socket_mode:
            _connect_socket_mode(stack, app_token, out)
        print(
            f"opsbot local stack is up\n"
            f"  Slack request URL  {state.events_url}\n"
            f"  signing secret     {state.signing_secret}\n"
            f"  Slack in a browser {web.url}/\n"
            f"  Slack API (local)  {state.slack_url}/api/\n"
            f"  {'AWS (yours)' if args.aws_endpoint else 'AWS (moto)':<19}{state.endpoint_url}\n"
            f"  jobs queue         {state.queue_url}\n"
            f"  inventory          {args.inventory or 'the demo inventory'}\n"
            f"  IAM                {_iam_line(stack)}\n"
            f"  state file         {stack.state_path}\n"
            f'Try: opsbot send "/deploy-status payment"' + ("" if args.exit else "   (Ctrl-C to stop)"),
            file=out,
            flush=True,
        )
        if args.demo:
            stack.slack.echo = False  # the demo prints each job's messages itself
            # Through the page's tap, as its first demo user: the demo conversation is on the page.
            tap = Target(events_url=web.tap_url, slack_url=state.slack_url, signing_secret=state.signing_secret)
            user = DEMO_USERS[0].id
            outcomes = [
                run_command(line, tap, timeout=args.timeout, user_id=user, emit=_say(out))
                for line in (*DEMO_COMMANDS, *(plugin_demo_commands() if args.inventory is None else ()))
            ]
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
        stack.slack.echo = False
        with contextlib.suppress(BrokenPipeError, ValueError):
            print("opsbot local: stopping", file=out, flush=True)
        web.stop()
        stack.stop()
    return EXIT_OK


def _web_port(args: argparse.Namespace) -> int:
    """The page's port: --web-port, else the one after the ingress's (any free port with --port 0)."""
    if args.web_port is not None:
        return int(args.web_port)
    return args.port + 1 if 0 < args.port < 65535 else 0


def _serve_the_page(web_slack: Any, stack: Any, args: argparse.Namespace) -> Any:
    """The Slack page on its port; when the default one (--port + 1) is taken, on any free port instead (its
    URL is printed with the others). A --web-port given is used or refused, never changed."""
    port = _web_port(args)
    try:
        return web_slack(stack.slack, stack.target, port=port).start()
    except OSError:
        if args.web_port is not None or port == 0:
            raise
    return web_slack(stack.slack, stack.target, port=0).start()


def _refuse_a_state_file_in_use(path: Path) -> None:
    """A second stack on the same --state would overwrite the first one's, then delete it when it stops."""
    try:
        state = read_state(path)
    except StateFileError:
        return
    raise CommandLineError(
        f"the state file {path} belongs to a running stack (pid {state.pid}, {state.ingress_url}): "
        "give this one another --state, or leave it out (one file per port)"
    )


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
    """`opsbot send`: one command followed to its final message; the exit code says what became of it."""
    target = _target(args)
    emit = (lambda _line: None) if args.json else _say(sys.stdout)
    if args.mention:
        outcome = run_mention(
            args.command, target, timeout=args.timeout, user_id=args.user, channel_id=args.channel, emit=emit
        )
    else:
        outcome = run_command(
            args.command,
            target,
            timeout=args.timeout,
            user_id=args.user,
            channel_id=args.channel,
            emit=emit,
            on_prompt="cancel" if args.cancel else "confirm",
        )
    code = _exit_code(outcome.result)
    if args.json:
        print(json.dumps(outcome_json(outcome, code)), flush=True)
    if code != EXIT_OK or outcome.error:
        print(f"opsbot send: {_result_line(outcome)}", file=sys.stderr)
    return code


def cmd_click(args: argparse.Namespace) -> int:
    """`opsbot click LABEL`: click a message's button (an alarm's runbook) as --user, follow what it runs."""
    from infra.devstack.client import click_button

    target = _target(args)
    outcome = click_button(
        args.label, target, channel=args.channel, timeout=args.timeout, user_id=args.user, emit=_say(sys.stdout)
    )
    code = EXIT_USAGE if outcome.ack is None and outcome.error else _exit_code(outcome.result)
    if code != EXIT_OK or outcome.error:
        print(f"opsbot click: {_result_line(outcome)}", file=sys.stderr)
    return code


def outcome_json(outcome: CommandOutcome, code: int) -> dict[str, Any]:
    """What `opsbot send --json` prints: one object, for scripts."""
    ack = outcome.ack
    return {
        "command": outcome.line,
        "result": outcome.result,
        "exit_code": code,
        "job": outcome.job,
        "ack": None
        if ack is None
        else {"status": ack.status, "latency_ms": round(ack.latency_ms, 1), "text": outcome.ack_text},
        "messages": [
            {
                "kind": m.kind,
                "channel": m.channel,
                "thread_ts": m.payload.get("thread_ts"),
                "final": m.final,
                "text": m.text,
            }
            for m in outcome.messages
        ],
        "error": outcome.error,
    }


def cmd_prompt(args: argparse.Namespace) -> int:
    """`opsbot prompt`: a line per command until EOF or `quit`; the worst exit code of its commands."""
    target = _target(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Type a slash command (e.g. /ops-ping), a mention (@opsbot ops-ping), `help`, or `quit`.", flush=True)
    codes: list[int] = []
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
            from infra.devstack.blocks import unescape_mrkdwn
            from shared.commands import COMMANDS
            from shared.messages import command_list

            print(unescape_mrkdwn(command_list(COMMANDS)), flush=True)
            continue
        run = run_mention if line.startswith("@opsbot ") else run_command
        text = line.removeprefix("@opsbot ")
        try:
            outcome = run(
                text, target, timeout=args.timeout, user_id=args.user, channel_id=args.channel, emit=_say(sys.stdout)
            )
        except LocalStackError as exc:
            print(f"opsbot prompt: {exc}", file=sys.stderr, flush=True)
            codes.append(EXIT_USAGE)
            continue
        codes.append(_exit_code(outcome.result))
        if not outcome.ok:
            print(f"opsbot prompt: {outcome.line}: {_result_line(outcome)}", file=sys.stderr, flush=True)
    failed = [code for code in codes if code != EXIT_OK]
    return failed[0] if len(set(failed)) == 1 else (EXIT_FAILED if failed else EXIT_OK)


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
        state = _state(args)
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        sqs = session.client("sqs", region_name=state.region, endpoint_url=state.endpoint_url)
        dlq_url, queue_url = state.dlq_url, state.queue_url
    if args.action == "list":
        held = list_dead_jobs(sqs, dlq_url)
        jobs = [j for j in held if j.matches(args.job)] if args.job else held
        if args.job and not jobs:
            return _no_such_dead_job(args.job, held)
        if args.json:
            if jobs:
                print(to_json_lines(jobs))
        else:
            print(format_table(jobs))
        return EXIT_OK
    moved = redrive(sqs, dlq_url, queue_url, job_id=args.job)
    if moved:
        print(format_table(moved))
        print(f"Sent {len(moved)} job(s) back to the jobs queue; a job that already completed is not run again.")
        return EXIT_OK
    if args.job is None:
        print("The dead-letter queue is empty: nothing to redrive.")
        return EXIT_OK
    return _no_such_dead_job(args.job, list_dead_jobs(sqs, dlq_url))


def _no_such_dead_job(job: str, held: Sequence[Any]) -> int:
    """--job matched nothing: say what the dead-letter queue does hold, on stderr, and exit 1."""
    there = ", ".join(j.label for j in held[:20]) if held else "nothing: it is empty"
    more = f" and {len(held) - 20} more" if len(held) > 20 else ""
    print(f"opsbot dlq: no job {job} in the dead-letter queue; it holds {there}{more}", file=sys.stderr)
    return EXIT_FAILED


def cmd_alarm(args: argparse.Namespace) -> int:
    """Fire a CloudWatch alarm state change on the local stack through one of its alarm routes (the alarm feed
    topic, a topic with raw message delivery, or EventBridge); SNS or EventBridge delivers it to the jobs queue."""
    import boto3

    from infra.devstack.alarm_feed import publish_alarm
    from infra.devstack.aws import FAKE_CREDENTIALS

    name = args.name.strip()
    if not 1 <= len(name) <= 255 or any(ord(c) < 32 for c in name):
        raise CommandLineError("an alarm name is 1 to 255 characters, no control characters")
    state = _state(args)
    _refuse_an_unknown_alarm(name, state)
    session = boto3.session.Session(**FAKE_CREDENTIALS)
    sns = session.client("sns", region_name=state.region, endpoint_url=state.endpoint_url)
    events = session.client("events", region_name=state.region, endpoint_url=state.endpoint_url)
    try:
        sent = publish_alarm(
            args.via,
            sns=sns,
            events=events,
            region=state.region,
            name=name,
            state=args.state_value,
            reason=args.reason or "",
        )
    except LookupError as exc:
        raise CommandLineError(str(exc)) from None
    route = {
        "sns": "the alarm feed topic (SNS envelope)",
        "sns-raw": "a topic with raw message delivery",
        "eventbridge": "EventBridge (delivered when the inventory's [alarms] route it)",
    }[args.via]
    print(f"Alarm {name} -> {args.state_value} published through {route} to the jobs queue (message {sent}).")
    return EXIT_OK


def _refuse_an_unknown_alarm(name: str, state: StackState) -> None:
    """An alarm the stack's inventory does not route (exact name or prefix) would reach no channel: refused,
    with the known ones, closest first."""
    from shared.inventory import InventoryError, closest_first, load_inventory

    if state.inventory is None:  # a stack that did not record its inventory: the worker logs what it drops
        return
    try:
        inventory = load_inventory(state.inventory)
    except InventoryError as exc:
        raise LocalStackError(f"cannot check the alarm against the stack's inventory: {exc}") from None
    if inventory.alarm(name) is not None:
        return
    keys = [f"{key}*" if route.prefix else key for key, route in inventory.alarms.items()]
    known = ", ".join(closest_first(name, keys)) or "none: the inventory has no [alarms]"
    raise CommandLineError(
        f"no alarm {name!r} in the stack's inventory ({state.inventory}), so no channel would show it; "
        f"known alarms, closest first (* a name prefix): {known}"
    )


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit trail (a table, or JSON lines) of the local stack (state file) or of AWS (--table)."""
    import boto3

    from infra.cli.audit import audit_records, format_row, targets_of, to_json_lines
    from infra.devstack.aws import FAKE_CREDENTIALS

    if args.table:
        dynamodb = boto3.session.Session().client("dynamodb")
        table = args.table
    else:
        state = _state(args)
        session = boto3.session.Session(**FAKE_CREDENTIALS)
        dynamodb = session.client("dynamodb", region_name=state.region, endpoint_url=state.endpoint_url)
        table = AUDIT_TABLE
    records = list(audit_records(dynamodb, table, target=args.target))
    for line in to_json_lines(iter(records)) if args.json else map(format_row, records):
        print(line)
    if records:
        return EXIT_OK
    everything = list(audit_records(dynamodb, table))
    targets = targets_of(iter(everything))
    there = (
        "targets with records: " + ", ".join(targets)
        if targets
        else ("no target has records" if everything else "the audit table is empty")
    )
    what = f"for target {args.target}" if args.target else f"in {table}"
    print(f"opsbot audit: no audit records {what}; {there}", file=sys.stderr)
    return EXIT_FAILED if args.target else EXIT_OK


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
    """Seconds: a number above 0 (argparse would name the function in its error: "invalid _positive value")."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a TCP port (0-65535): {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; a new subcommand is one more `sub.add_parser(...)` with its `func`."""
    parser = argparse.ArgumentParser(
        prog="opsbot",
        description="opsbot: ChatOps for Slack on AWS, locally.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"opsbot {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="{local,send,prompt,click,dlq,alarm,audit,manifest}")

    local = sub.add_parser("local", help="run the whole stack on 127.0.0.1 until Ctrl-C")
    local.add_argument("--port", type=_port, default=3000, help="ingress port (0: any free port; default 3000)")
    local.add_argument("--web-port", type=_port, help="port of the Slack page in a browser (default: --port + 1)")
    local.add_argument("--demo", action="store_true", help="send /ops-ping and /deploy-status payment through it")
    local.add_argument("--exit", action="store_true", help="with --demo: exit after it (0 only if both finished)")
    local.add_argument("--timeout", type=_positive, default=30.0, help="seconds to wait for each demo job")
    local.add_argument("--quiet", action="store_true", help="do not print the messages the local Slack receives")
    local.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    local.add_argument(
        "--aws-endpoint",
        metavar="URL",
        help="use this AWS endpoint (a moto server, LocalStack) instead of starting moto; it is provisioned",
    )
    local.add_argument(
        "--inventory", type=Path, metavar="FILE", help="your inventory (and its [policy]) instead of the demo one"
    )
    local.add_argument(
        "--iam",
        choices=["auto", "on", "off"],
        default="auto",
        help="run each function under the role the CDK app synthesizes for it, every call checked on its resource "
        "(auto: on with the stack's own moto, off with --aws-endpoint; on needs this project's moto server there)",
    )
    local.add_argument(
        "--lenient-slack",
        action="store_true",
        help="the local Slack API serves every call (no channel membership, scopes or rate limits checked)",
    )
    local.add_argument(
        "--faults",
        metavar="RULES",
        default=os.environ.get("OPSBOT_FAULTS") or None,
        help="put the fault proxy between the worker and what it calls, with these rules, e.g. "
        "'service=dynamodb,action=write,mode=error,for=8,trigger=ecs.UpdateService' (default: $OPSBOT_FAULTS)",
    )
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
        p = sub.add_parser(
            name, help=help_text, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if name == "send":
            p.add_argument("command", help='the slash command and its text, e.g. "/deploy-status payment"')
            p.add_argument(
                "--mention", action="store_true", help='send it as "@opsbot <command>" (answered in the thread)'
            )
            p.add_argument("--cancel", action="store_true", help="answer a Confirm / Cancel prompt with Cancel")
            p.add_argument("--json", action="store_true", help="print one JSON object (result, job, messages)")
        p.add_argument("--timeout", type=_positive, default=30.0, help="seconds to wait for the final message")
        p.add_argument("--user", default="U0LOCALDEV", help="Slack user id of the sender")
        p.add_argument("--channel", default="C0LOCALOPS", help="Slack channel id it is sent from")
        p.add_argument("--url", help="the ingress's Slack request URL (default: from the state file)")
        p.add_argument("--secret", help="the signing secret (default: from the state file)")
        p.add_argument("--slack-url", help="the local Slack API base URL (default: from the state file)")
        p.set_defaults(func=func)

    click = sub.add_parser(
        "click",
        help="click a message's button as a user (an alarm's runbook button) and follow what it runs",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    click.add_argument("label", help='the button\'s label, e.g. "/ops-status payment"')
    click.add_argument("--channel", help="only messages in this channel id (default: the newest in any channel)")
    click.add_argument("--user", default="U0LOCALDEV", help="Slack user id of who clicks")
    click.add_argument("--timeout", type=_positive, default=30.0, help="seconds to wait for the final message")
    click.add_argument("--url", help="the ingress's Slack request URL (default: from the state file)")
    click.add_argument("--secret", help="the signing secret (default: from the state file)")
    click.add_argument("--slack-url", help="the local Slack API base URL (default: from the state file)")
    click.set_defaults(func=cmd_click)

    dlq = sub.add_parser("dlq", help="list the dead-letter queue, or send its jobs back to run")
    dlq.add_argument("action", choices=["list", "redrive"])
    dlq.add_argument("--job", help="only this job id (or its first characters)")
    dlq.add_argument("--json", action="store_true", help="with list: JSON lines")
    dlq.add_argument("--dlq-url", help="the DLQ on AWS (default: the local stack's, from the state file)")
    dlq.add_argument("--queue-url", help="the jobs queue on AWS, with --dlq-url to redrive")
    dlq.set_defaults(func=cmd_dlq)

    alarm = sub.add_parser("alarm", help="fire a CloudWatch alarm state change on the local stack")
    alarm.add_argument("name", help="the alarm's name, e.g. payment-5xx (the inventory's [alarms] map it)")
    alarm.add_argument("state_value", metavar="state", choices=["ALARM", "OK", "INSUFFICIENT_DATA"])
    alarm.add_argument("--reason", help="the state reason shown in the message")
    alarm.add_argument(
        "--via",
        choices=["sns", "sns-raw", "eventbridge"],
        default="sns",
        help="the route: the alarm feed topic (default), a topic with raw message delivery, or EventBridge",
    )
    alarm.set_defaults(func=cmd_alarm)

    audit = sub.add_parser(
        "audit", help="the audit trail, newest first: a table, or JSON lines with --json", description=AUDIT_HELP
    )
    audit.add_argument("--target", help="only this target's records")
    audit.add_argument("--table", help=f"the audit table on AWS (default: the local stack's {AUDIT_TABLE})")
    audit.add_argument("--json", action="store_true", help="JSON lines (one record a line) instead of a table")
    audit.set_defaults(func=cmd_audit)

    manifest = sub.add_parser("manifest", help="print the Slack app manifest for a request URL")
    target = manifest.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the Slack request URL (the stack's output RequestUrl)")
    target.add_argument("--socket-mode", action="store_true", help="for `opsbot local --socket-mode`: no URLs")
    manifest.set_defaults(func=cmd_manifest)

    for p in sub.choices.values():
        p.add_argument(
            "--state", type=Path, help="state file of `opsbot local` (default: the running stack's, one per port)"
        )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opsbot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `opsbot` console script."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`opsbot audit | head -3`): no traceback. Python's docs ("Note on SIGPIPE"):
        # point stdout at /dev/null so the interpreter's last flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "local" and args.exit and not args.demo:
        print("opsbot local: --exit only makes sense with --demo", file=sys.stderr)
        return EXIT_USAGE
    if args.cmd == "send" and args.mention and args.cancel:
        print("opsbot send: --cancel answers a slash command's prompt; a mention gets none", file=sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except LocalStackError as exc:
        print(f"opsbot {args.cmd}: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, CommandLineError) else EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
