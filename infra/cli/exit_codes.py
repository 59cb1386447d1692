"""The CLI's exit codes: one table, read by `opsbot --help` and by the documentation's generator.

A script reads the code; a person reads the line on stderr. `send`, `prompt` and `click` follow a
request to its end, so their code says what became of it: ran and succeeded (0), ran and failed (1),
refused with nothing run (4), or waiting for someone else (5: sent for a second person's approval, it
runs once they approve). The other subcommands exit 0 when done and 1 when they could not do it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExitCode:
    """One exit code: its number, the result word `send --json` reports, and what it means."""

    code: int
    result: str
    meaning: str


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_ANSWERED = 3
EXIT_REFUSED = 4
EXIT_WAITING = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Every exit code of `opsbot`, in order; `--help` and the docs print this table.
EXIT_CODE_TABLE: tuple[ExitCode, ...] = (
    ExitCode(EXIT_OK, "succeeded", "a job ran and succeeded (other subcommands: done)"),
    ExitCode(EXIT_FAILED, "failed", "the job ran and failed, or could not be queued; or the subcommand failed"),
    ExitCode(EXIT_USAGE, "usage", "bad arguments, or text that is not a slash command"),
    ExitCode(EXIT_NOT_ANSWERED, "not answered", "not answered: no ack, or no final message within --timeout"),
    ExitCode(
        EXIT_REFUSED, "refused", "refused, nothing was run: bad signature, usage, unknown name, denied, busy, cancelled"
    ),
    ExitCode(
        EXIT_WAITING, "waiting", "waiting for someone else: sent for a second person's approval; runs once approved"
    ),
    ExitCode(EXIT_INTERRUPTED, "interrupted", "stopped by Ctrl-C before the stack was up (128 + SIGINT)"),
    ExitCode(EXIT_BROKEN_PIPE, "broken pipe", "stdout closed by its reader, e.g. | head (128 + SIGPIPE)"),
)

#: What became of a request followed by send, prompt or click -> its exit code.
RESULT_CODES: dict[str, int] = {
    e.result: e.code
    for e in EXIT_CODE_TABLE
    if e.result in ("succeeded", "failed", "not answered", "refused", "waiting")
}


def exit_codes_help() -> str:
    """The table as `--help` prints it."""
    width = max(len(str(e.code)) for e in EXIT_CODE_TABLE)
    lines = [f"  {str(e.code).ljust(width)}  {e.meaning}" for e in EXIT_CODE_TABLE]
    return "exit codes:\n" + "\n".join(lines)
