"""What the worker's messages tell, through the ack and the worker on moto and the local Slack API: a mention in
/ops-audit is a mention (escaped once, never twice), a request for a second person is told once."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_approval import Flow as ApprovalFlow
from tests.integration.test_holds import Flow as HoldsFlow


def test_ops_audit_shows_a_mention_once_escaped_and_typed_markup_inert(harness):
    flow = HoldsFlow(harness)
    flow.run("/ops-freeze prod db upgrade <!channel> & more")

    history = flow.run("/ops-audit prod")

    assert "frozen by <@U0ALICE>" in history, history
    assert "&lt;@U0ALICE&gt;" not in history and "&amp;lt;" not in history
    assert "&lt;!channel&gt; &amp; more" in history  # what was typed stays inert, escaped once
    assert "<!channel>" not in history


@pytest.fixture
def approval(harness) -> ApprovalFlow:
    return ApprovalFlow(harness)


def test_a_request_for_a_second_person_is_told_once(approval, harness):
    """The ack answers "needs a second person: sent to #approvals"; the worker posting the request in
    #approvals does not say it again to the requester."""
    reply = approval.command_text("/ops-migrate payment")
    approval.deliver()

    told = [reply, *approval.texts("requester")]
    assert sum("needs a second person" in t for t in told) == 1, told
    [posted] = [m for m in harness.slack.messages(channel="C0APPROVALS") if m.kind == "chat.postMessage"]
    assert "opsbot_approve" in json.dumps(posted.payload["blocks"])
