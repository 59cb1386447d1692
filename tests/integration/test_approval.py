"""Two-person approval end to end in-process: the ack (signed requests and clicks) -> jobs -> the worker on
moto and the local Slack API. Only SREs-style rule here: /ops-migrate on prod needs a DBA's approval."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler

from ack_function.app import build_app
from ack_function.handler import handle
from infra.local.demo import demo_inventory_toml
from shared.commands import ApprovalRequestArgs, NoticeArgs
from shared.inventory import Inventory
from tests.events import load_event, slash_body
from tests.fakes import FakeLambdaContext, RecordingQueue

SECRET = "approval-signing-secret"
APPROVAL_RULE = """
[[policy.rules]]
name = "dba-migrate-prod"
commands = ["/ops-migrate"]
environments = ["prod"]
users = ["U0ALICE"]
approvers = ["S0DBA"]
approval_channel = "C0APPROVALS"
ask = "<!subteam^S0DBA>"
"""


class Flow:
    def __init__(self, harness: Any) -> None:
        toml = demo_inventory_toml(harness.cluster).replace(
            'commands = ["/ops-restart", "/ops-migrate"]', 'commands = ["/ops-restart"]'
        )
        harness.inventory_toml = toml + APPROVAL_RULE
        harness.slack.set_usergroup("S0DBA", ["U0DAN"])
        self.harness = harness
        self.queue = RecordingQueue()
        self.handler = SlackRequestHandler(build_app(SECRET, self.queue, Inventory.from_toml(harness.inventory_toml)))
        self.worker = harness.dispatcher()
        self.url = harness.slack.response_url("requester")

    def ack(self, body: bytes) -> dict[str, Any]:
        response = handle(self.handler, load_event("http_api_v2", body, SECRET), FakeLambdaContext())
        assert response["statusCode"] == 200, response
        return response

    def command(self, line: str, user: str = "U0ALICE") -> str:
        command, _, text = line.partition(" ")
        body = slash_body(command, text, user_id=user, channel_id="C0OPS", team_id="T0001", response_url=self.url)
        return str(json.loads(self.ack(body)["body"])["text"])

    def click(self, action_id: str, value: str, user: str) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T0001"},
            "channel": {"id": "C0APPROVALS"},
            "trigger_id": f"1.2.{action_id}.{user}",
            "response_url": self.harness.slack.response_url(f"approval-{user}"),
            "actions": [{"action_id": action_id, "value": value}],
        }
        self.ack(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())

    def deliver(self) -> None:
        """Run every job the ack queued so far, as the worker would."""
        jobs, self.queue.jobs[:] = list(self.queue.jobs), []
        for job in jobs:
            self.harness.run(job, self.worker)

    def approval_token(self) -> str:
        [posted] = [m for m in self.harness.slack.messages(channel="C0APPROVALS") if m.kind == "chat.postMessage"]
        [actions] = [b for b in posted.payload["blocks"] if b["type"] == "actions"]
        return str(actions["elements"][0]["value"])

    def texts(self, key: str) -> list[str]:
        return [m.text for m in self.harness.slack.messages(key=key)]


@pytest.fixture
def flow(harness) -> Flow:
    return Flow(harness)


def test_a_migration_on_prod_waits_for_a_second_person_then_runs(flow):
    reply = flow.command("/ops-migrate payment")
    assert "needs a second person: sent to <#C0APPROVALS>" in reply
    assert [type(j.args) for j in flow.queue.jobs] == [ApprovalRequestArgs]
    flow.deliver()
    token = flow.approval_token()

    flow.click("opsbot_approve", token, "U0ALICE")  # the requester: refused at the ack
    assert [type(j.args) for j in flow.queue.jobs] == [NoticeArgs]
    flow.deliver()
    assert "cannot approve their own request" in flow.texts("approval-U0ALICE")[0]

    flow.click("opsbot_approve", token, "U0DAN")
    flow.deliver()

    assert "approved by <@U0DAN>" in flow.texts("approval-U0DAN")[0]
    assert any("Migration of `payment`" in t and "succeeded" in t.lower() for t in flow.texts("requester")), flow.texts(
        "requester"
    )


def test_an_approval_by_someone_outside_the_approver_group_is_refused_by_the_worker(flow):
    flow.command("/ops-migrate payment")
    flow.deliver()

    flow.click("opsbot_approve", flow.approval_token(), "U0EVE")  # the ack cannot see groups: the worker decides
    flow.deliver()

    assert any("is not an approver of rule `dba-migrate-prod`" in t for t in flow.texts("requester"))


def test_a_rejection_tells_the_requester_and_runs_nothing(flow):
    flow.command("/ops-migrate payment")
    flow.deliver()

    flow.click("opsbot_reject", flow.approval_token(), "U0DAN")
    flow.deliver()

    assert "rejected by <@U0DAN>" in flow.texts("approval-U0DAN")[0]
    assert any("rejected by <@U0DAN>. Nothing was run." in t for t in flow.texts("requester"))
    assert not any("Migration" in t for t in flow.texts("requester"))


def test_a_job_claiming_approval_by_its_own_requester_is_denied_by_the_worker(harness, flow):
    job = harness.job("/ops-migrate payment").model_copy(update={"approved_by": "U0ALICE"})

    harness.run(job, flow.worker)

    assert any("needs the approval of a second person" in m.text for m in harness.slack.messages(key=job.job_id))


def test_an_approval_request_expires_after_an_hour(harness, flow):
    from datetime import timedelta

    from shared.confirm import APPROVAL_TTL_S, seal

    old = harness.job("/ops-migrate payment", issued_at=harness.clock.now() - timedelta(seconds=APPROVAL_TTL_S + 1))

    flow.click("opsbot_approve", seal(old, SECRET), "U0DAN")

    [notice] = flow.queue.jobs
    assert isinstance(notice.args, NoticeArgs) and "expired" in notice.args.text and notice.replace_original
