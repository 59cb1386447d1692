"""/cdn-invalidate end to end on the local stack: signed Slack requests in, the final Slack messages out, each
function under the IAM role the CDK app derives (a call it does not grant is refused, and fails the test)."""

from __future__ import annotations

import pytest

from opsbot_testkit import local_stack, send


@pytest.fixture(scope="module")
def stack():
    with local_stack() as running:
        yield running
        assert running.denials() == [], running.denials()


def test_help_lists_the_plugins_command_and_the_targets_it_accepts(stack):
    outcome = send(stack, "/ops-help")

    assert outcome.ok, outcome.result
    text = "\n".join(m.text for m in outcome.messages if m.final)
    assert "/cdn-invalidate" in text and "web" in text


def test_dry_run_confirmation_run_and_audit(stack):
    dry = send(stack, "/cdn-invalidate web /index.html --dry-run")
    assert dry.ok and not dry.prompted, dry.result
    assert "would" in "\n".join(m.text for m in dry.messages).lower()

    cancelled = send(stack, "/cdn-invalidate web /index.html", on_prompt="cancel")
    assert cancelled.prompted and "cancelled" in cancelled.messages[-1].text.lower(), cancelled.messages[-1].text

    done = send(stack, "/cdn-invalidate web /index.html")
    assert done.prompted and done.ok, [m.text for m in done.messages]
    assert "completed" in done.messages[-1].text

    audit = send(stack, "/ops-audit web")
    trail = "\n".join(m.text for m in audit.messages if m.final)
    assert "/cdn-invalidate" in trail and "dry" in trail.lower()
