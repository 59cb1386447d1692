"""The documentation's facts that the code knows, written from the code.

README.md and docs/*.md hold generated blocks between markers:

    <!-- generated:commands -->
    ...
    <!-- /generated -->

`python -m infra.cli.docs` rewrites every such block from its source (the command specs, the CLI's exit
codes, the Slack app's scopes); the fault-injection harness's table is rewritten from the file its run writes
(`--fault-table FILE`); `python -m infra.cli.docs --check` exits 1 and names the blocks
that differ. tests/unit/test_docs_generated.py fails when the committed text is not what this produces.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

FIX_COMMAND = ".venv/bin/python -m infra.cli.docs"

_BLOCK = re.compile(
    r"(?P<open><!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(?P<close><!-- /generated -->)", re.DOTALL
)


def documents(root: Path = ROOT) -> list[Path]:
    """The Markdown the generated blocks may live in: the README and every page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _builtins() -> list[Any]:
    """opsbot's own commands: the docs describe these, whatever plugins this machine has installed."""
    from shared.commands import COMMANDS

    return [spec for spec in COMMANDS if not spec.plugin]


def commands_table() -> str:
    """Every command: its usage, what it does, whether it changes something and whether it asks to confirm."""
    rows = [
        "| command | what it does | changes something | asks to confirm |",
        "|---|---|---|---|",
    ]
    for spec in _builtins():
        rows.append(
            f"| `{_cell(spec.usage)}` | {_cell(spec.description)} | {'yes' if spec.mutating else ''} "
            f"| {'yes' if spec.confirm else ''} |"
        )
    return "\n".join(rows) + "\n"


def mutating_commands() -> str:
    """The commands that change something, as one line (for prose that lists them)."""
    return ", ".join(f"`{spec.name}`" for spec in _builtins() if spec.mutating) + "\n"


def picker_commands() -> str:
    """The commands that answer with a picker when typed without their target, as one line."""
    from ack_function.pickers import offers_picker

    return ", ".join(f"`{spec.name}`" for spec in _builtins() if offers_picker(spec)) + "\n"


def slack_scopes() -> str:
    """The bot scopes and events of the Slack app's manifest (`opsbot manifest`)."""
    from infra.cli.manifest import BOT_EVENTS, BOT_SCOPES

    return (
        "Scopes: "
        + ", ".join(f"`{s}`" for s in BOT_SCOPES)
        + ". Events: "
        + ", ".join(f"`{e}`" for e in BOT_EVENTS)
        + ".\n"
    )


def exit_codes() -> str:
    """The exit codes of `opsbot send` and `opsbot prompt`, as `opsbot --help` prints them."""
    from infra.cli.main import EXIT_CODES_HELP

    return "```\n" + EXIT_CODES_HELP.split("\n\n")[0] + "\n```\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "commands": commands_table,
    "mutating-commands": mutating_commands,
    "picker-commands": picker_commands,
    "slack-scopes": slack_scopes,
    "exit-codes": exit_codes,
}


#: Blocks written from the output of a run too long to repeat here: kept as they are unless that output is given.
FROM_A_RUN = ("fault-table",)


def render(text: str, *, source: str = "", runs: dict[str, str] | None = None) -> str:
    """The text with every generated block rewritten (`runs`: the new text of blocks from a run); `KeyError`
    naming an unknown block."""
    runs = runs or {}

    def block(match: re.Match[str]) -> str:
        name = match["name"]
        if name in FROM_A_RUN:
            return match["open"] + runs[name] + match["close"] if name in runs else match[0]
        if name not in GENERATORS:
            known = ", ".join([*GENERATORS, *FROM_A_RUN])
            raise KeyError(f"{source}: unknown generated block {name!r} (known: {known})")
        return match["open"] + GENERATORS[name]() + match["close"]

    return _BLOCK.sub(block, text)


def stale(root: Path = ROOT) -> list[str]:
    """The documents whose generated blocks differ from what the code says (relative paths)."""
    return [
        str(path.relative_to(root))
        for path in documents(root)
        if render(text := path.read_text(), source=str(path)) != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.cli.docs", description="rewrite the generated blocks of README.md and docs/*.md"
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    parser.add_argument(
        "--fault-table",
        type=Path,
        metavar="FILE",
        help="the table the fault-injection harness wrote (OPSBOT_FAULT_TABLE=FILE pytest "
        "tests/integration/test_exactly_once.py): put it in docs/guarantees.md",
    )
    args = parser.parse_args(argv)
    runs = {} if args.fault_table is None else {"fault-table": args.fault_table.read_text()}
    if args.check:
        out_of_date = stale()
        for name in out_of_date:
            print(f"{name}: generated blocks are out of date; run {FIX_COMMAND}", file=sys.stderr)
        return 1 if out_of_date else 0
    for path in documents():
        text = path.read_text()
        new = render(text, source=str(path), runs=runs)
        if new != text:
            path.write_text(new)
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
