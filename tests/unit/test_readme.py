"""The documentation's example texts (README.md and docs/*.md) are what the program prints today: each comparable
quote is produced here by the code that prints it and looked up in the docs, word for word (line breaks aside)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ack_function import intake, replies
from ack_function.route import Deny, plan_job, route_job
from infra.cli.main import EXIT_CODES_HELP, build_parser
from shared import messages
from shared.inventory import Inventory, InventoryError
from shared.jobs import JobEnvelope, Requester
from worker_function import errors as errors_module

ROOT = Path(__file__).resolve().parents[2]
#: The README and every page of docs/, one after another: a quote may be in any of them.
README = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def flat(text: str) -> str:
    """Line breaks and runs of spaces as one space: the docs wrap their prose."""
    return re.sub(r"\s+", " ", text).strip()


def in_readme(text: str) -> bool:
    return flat(text) in flat(README)


def policy_example() -> str:
    """The inventory of the policy example (the TOML block of "Who may run what", docs/commands.md)."""
    section = README[README.index("## Who may run what") :]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def job(command: str, text: str, *, user: str, channel: str) -> JobEnvelope:
    planned = plan_job(
        command,
        text,
        Requester(user_id=user, team_id="T0", channel_id=channel),
        job_id="0" * 32,
        response_url=None,
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert isinstance(planned, JobEnvelope), planned
    return planned


def test_the_policy_examples_denial_is_what_the_ack_answers():
    inventory = Inventory.from_toml(policy_example(), source="inventory.toml")

    denial = route_job(job("/ops-restart", "payment", user="U0DEV", channel="C0DEV"), "typed", inventory)

    assert isinstance(denial, Deny)
    assert in_readme(f'gets "{denial.message.text}"'), denial.message.text


def test_the_approval_example_is_what_the_ack_answers():
    text = messages.approval_requested("/ops-migrate payment", "C0APPROVALS", ["S0SRE"]).text

    quoted = "needs a second person: sent to <#C0APPROVALS> for approval by <!subteam^S0SRE>"
    assert quoted in text and in_readme(f'answers "{quoted}"')


def test_the_invalid_policy_error_is_the_one_printed():
    broken = policy_example().replace('commands = ["/ops-restart"]', 'commands = ["/ops-restrat"]', 1)

    with pytest.raises(InventoryError) as error:
        Inventory.from_toml(broken, source="inventory.toml")

    assert in_readme(f"(`{error.value}`)"), str(error.value)


def test_the_busy_and_could_not_queue_texts():
    busy = errors_module.busy("payment", "/ops-restart payment", "U0ALICE", "14:02 UTC", "7f3a2b1c" * 4, "0" * 8).text
    could_not = replies.enqueue_failed("/ops-ping").text

    assert in_readme(busy.splitlines()[0]), busy
    assert in_readme(f'"{could_not}"'), could_not


def test_the_demo_ack_line():
    queued = intake.queued("/deploy-status payment", "5f15f994").text

    assert f"ack 200 in 25 ms: {queued}\n" in README


def test_the_exit_codes_are_those_of_help():
    documented = EXIT_CODES_HELP.split("\n\n")[0]

    assert f"```\n{documented}\n```" in README
    assert documented in build_parser().format_help()


def test_every_subcommand_and_option_the_readme_shows_exists():
    import argparse

    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    shown = re.findall(r"(?:^|&& |`)(?:\.venv/bin/)?opsbot (\w+)([^#\n`]*)", README, flags=re.MULTILINE)

    assert {name for name, _ in shown} == set(sub.choices)
    for name, rest in shown:
        options = sub.choices[name].format_help()
        for option in re.findall(r"(--[a-z-]+)", rest):
            assert option in options, f"opsbot {name} {option}"


def test_the_cancel_example_is_what_the_worker_answers():
    from worker_function import jobs_view

    said = jobs_view.job_cancelled(
        "/ops-migrate payment 2024.06.1",
        "9c7644c6",
        "U0LOCALDEV",
        "U0LOCALDEV",
        ["CodeBuild build `payment-migrate:6efeef23-9234-4b27-86ab-14603c9ec645` stopped (StopBuild)"],
    )

    assert in_readme(said.text.splitlines()[0]), said.text
