"""The documentation cannot drift from the code: its generated blocks are what the code produces today, the
fault-injection table has a row for exactly the harness's scenarios, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.cli import docs

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = docs.documents(ROOT)

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a bash block is no heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, inline code and links as their text, punctuation dropped
    (but - and _), spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(path.read_text()):
        match = _HEADING.match(line)
        if match:
            slug = anchor(match[2])
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    links = []
    for line in prose_lines(path.read_text()):
        for target in _LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked here
                links.append(target)
    return links


def test_the_docs_pages_exist():
    names = {path.name for path in DOCUMENTS}
    for page in (
        "README.md",
        "commands.md",
        "operating.md",
        "guarantees.md",
        "deploying.md",
        "performance.md",
        "architecture.md",
        "writing-a-command.md",
    ):
        assert page in names


def test_the_generated_blocks_are_what_the_code_says():
    stale = docs.stale(ROOT)
    assert not stale, f"out of date: {', '.join(stale)}; rewrite them with `{docs.FIX_COMMAND}` and commit"


def test_every_generator_is_used_and_every_block_is_known():
    used = {name for path in DOCUMENTS for name in re.findall(r"<!-- generated:([a-z-]+) -->", path.read_text())}
    assert used == set(docs.GENERATORS) | set(docs.FROM_A_RUN)
    for path in DOCUMENTS:
        text = path.read_text()
        assert text.count("<!-- generated:") == text.count("<!-- /generated -->"), path


def test_a_changed_spec_makes_the_check_fail(tmp_path, monkeypatch):
    """The check can fail: a command table that no longer matches the specs is out of date."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("x\n<!-- generated:commands -->\n| stale |\n<!-- /generated -->\n")
    assert docs.stale(tmp_path) == ["README.md"]
    (tmp_path / "README.md").write_text(docs.render((tmp_path / "README.md").read_text()))
    assert docs.stale(tmp_path) == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_every_relative_link_resolves(path):
    broken = []
    for link in relative_links(path):
        file_part, _, fragment = link.partition("#")
        target = path if not file_part else (path.parent / file_part).resolve()
        if not target.exists():
            broken.append(f"{link}: no file {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{link}: no heading #{fragment} in {target.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title\n\n[ok](#a-title) [bad](#no-such) [gone](nowhere.md)\n```\n# not a heading\n```\n")
    assert anchors(page) == {"a-title"}
    assert relative_links(page) == ["#a-title", "#no-such", "nowhere.md"]


def test_anchors_are_githubs():
    assert anchor("Who may run what: policies") == "who-may-run-what-policies"
    assert anchor("The `opsbot` command") == "the-opsbot-command"
    assert anchor("1. The spec") == "1-the-spec"
    assert anchor("What is running, and cancel") == "what-is-running-and-cancel"


def fault_table_scenarios(text: str) -> list[str]:
    """The scenario names of the fault-injection table's rows (the generated block of docs/guarantees.md)."""
    block = text.split("<!-- generated:fault-table -->", 1)[1].split("<!-- /generated -->", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| scenario |")]
    return [row.split("|")[1].strip() for row in rows]


def test_the_fault_table_has_a_row_for_exactly_the_harness_scenarios():
    from tests.integration.test_exactly_once import SCENARIOS

    documented = fault_table_scenarios((ROOT / "docs" / "guarantees.md").read_text())
    harness = [scenario.name for scenario in SCENARIOS]
    assert documented == harness, (
        "docs/guarantees.md's fault-injection table does not match the harness's scenarios: run "
        "`OPSBOT_FAULT_TABLE=/tmp/fault-table.md .venv/bin/python -m pytest -p no:xdist "
        "tests/integration/test_exactly_once.py` then `.venv/bin/python -m infra.cli.docs --fault-table "
        "/tmp/fault-table.md`"
    )


def test_the_harness_writes_its_table_in_the_format_of_the_page(monkeypatch, tmp_path):
    from collections import Counter

    from tests.integration import test_exactly_once as harness

    first, second = harness.SCENARIOS[0], harness.SCENARIOS[6]
    monkeypatch.setattr(
        harness,
        "TABLE",
        [
            (second.name, "refuse before", 2, Counter({"1/1": 2})),
            (first.name, "kill before", 1, Counter({"0/1": 1})),
            (first.name, "kill after", 3, Counter({"0/1": 3})),
            (first.name, "refuse before", 3, Counter({"0/1": 3})),
        ],
    )
    facts = harness.RunFacts(at=0.0, when="2026-12-06 12:00 UTC", load=0.5, revision="abc1234", machine="2-core x")
    later = harness.RunFacts(at=411.0, when="2026-12-06 12:07 UTC", load=1.5, revision="abc1234", machine="2-core x")
    table = harness.doc_table(facts, later)

    assert table.startswith("Run of 2026-12-06 12:00 UTC, revision abc1234, 2 scenarios in 6 min 51 s")
    assert f"| {first.name} | `{first.line}` | 0/1 x3 |  |  |  | 0/1 x4 |" in table
    page = f"<!-- generated:fault-table -->\n{table}<!-- /generated -->\n"
    assert fault_table_scenarios(page) == [first.name, second.name]
    rendered = docs.render(page, runs={"fault-table": table})
    assert rendered == page
