"""Two-person approval end to end in-process: the ack (signed requests and clicks) -> jobs -> the worker on
moto and the local Slack API. Only SREs-style rule here: /ops-migrate on prod needs a DBA's approval. The
request's message in the approvals channel shows how it ended (approved, rejected, expired), buttons gone."""

from __future__ import annotations

from typing import Any

import pytest

from infra.devstack.demo import demo_inventory_toml
from shared.commands import ApprovalRequestArgs, NoticeArgs, SettleArgs
from shared.confirm import APPROVAL_TTL_S
from tests.integration import ack_flow
from tests.integration.ack_flow import SECRET
from tests.integration.test_audit import rows
from worker_function.errors import GroupLookupError

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


class Flow(ack_flow.Flow):
    def __init__(self, harness: Any, approvers: str = '["S0DBA"]') -> None:
        demo = demo_inventory_toml(harness.cluster)
        operators = 'commands = ["/ops-restart", "/ops-migrate"]'
        assert operators in demo, "the demo's prod operators rule changed: take /ops-migrate out of it here"
        toml = demo.replace(operators, 'commands = ["/ops-restart"]')
        harness.slack.set_usergroup("S0DBA", ["U0DAN"])
        rule = APPROVAL_RULE.replace('approvers = ["S0DBA"]', f"approvers = {approvers}")
        super().__init__(harness, toml + rule)
        self.requested: list[ApprovalRequestArgs] = []

    def command_text(self, line: str, user: str = "U0ALICE") -> str:
        return str(self.command(line, user)["text"])

    @property
    def prompt_id(self) -> str:
        """The id of the job waiting for approval (from the request the worker was given)."""
        return self.requested[0].job_id

    def deliver(self) -> None:
        self.requested.extend(j.args for j in self.queue.jobs if isinstance(j.args, ApprovalRequestArgs))
        super().deliver()

    def approval_message(self) -> Any:
        [posted] = [m for m in self.harness.slack.messages(channel="C0APPROVALS") if m.kind == "chat.postMessage"]
        return posted

    def approval_token(self) -> str:
        return ack_flow.button(self.approval_message().payload["blocks"], "opsbot_approve")

    def reject_token(self) -> str:
        return ack_flow.button(self.approval_message().payload["blocks"], "opsbot_reject")

    def approval_updates(self) -> list[Any]:
        return [m for m in self.harness.slack.messages(channel="C0APPROVALS") if m.kind == "chat.update"]

    def ephemerals(self, user: str) -> list[str]:
        """What the worker showed `user` alone in the approvals channel (chat.postEphemeral)."""
        found = self.harness.slack.messages(channel="C0APPROVALS")
        return [m.text for m in found if m.kind == "chat.postEphemeral" and m.payload.get("user") == user]

    def group_lookups(self) -> int:
        return sum(1 for c in self.harness.slack.calls if c.path == "/api/usergroups.users.list")


@pytest.fixture
def flow(harness) -> Flow:
    return Flow(harness)


def test_a_migration_on_prod_waits_for_a_second_person_then_runs(flow):
    reply = flow.command_text("/ops-migrate payment")
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

    [update] = flow.approval_updates()  # the request's message says so, its buttons gone
    assert "<@U0ALICE>'s `/ops-migrate payment` was approved by <@U0DAN>: running as job" in update.text
    assert [b["type"] for b in update.payload["blocks"]] == ["section"]
    assert any("Migration of `payment`" in t and "succeeded" in t.lower() for t in flow.texts("requester")), flow.texts(
        "requester"
    )


def test_an_approval_by_someone_outside_the_approver_group_is_refused_by_the_worker(flow, harness):
    """Given approvers that are a user group, when a non-member clicks Approve, then the ack lets it through
    (it cannot see groups), and the worker, resolving the group, refuses it: told to them alone in the
    approvals channel, audited as a denial, nothing decided or run, the requester not bothered; an approver
    can still approve."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    told_before = flow.texts("requester")

    flow.click("opsbot_approve", flow.approval_token(), "U0EVE")
    assert [j.approved_by for j in flow.queue.jobs] == ["U0EVE"]  # passed on: only a group could say
    flow.deliver()

    [refused] = flow.ephemerals("U0EVE")
    assert refused == (
        ":no_entry: That approval was not accepted: you are not one of this request's approvers."
        " The request is still open."
    )
    assert flow.approval_updates() == []  # still open, buttons and all
    assert flow.texts("requester") == told_before
    assert harness.codebuild.builds_of("payment-migrate") == []
    events = audit_events(flow)
    assert ("denial", "approval refused: <@U0EVE> is not an approver of rule `dba-migrate-prod`") in events
    assert not {"approval", "start", "outcome"} & {event for event, _ in events}

    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    flow.deliver()

    [update] = flow.approval_updates()
    assert "approved by <@U0DAN>" in update.text
    assert any("Migration of `payment`" in t and "succeeded" in t.lower() for t in flow.texts("requester"))
    assert ("approval", "approved by U0DAN") in audit_events(flow)
    assert flow.ephemerals("U0DAN") == []


def test_after_a_refused_approval_a_real_approver_can_still_approve(flow):
    flow.command("/ops-migrate payment")
    flow.deliver()
    flow.click("opsbot_approve", flow.approval_token(), "U0EVE")
    flow.deliver()

    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    flow.deliver()

    assert "approved by <@U0DAN>" in flow.approval_updates()[0].text
    assert any("Migration of `payment`" in t and "succeeded" in t.lower() for t in flow.texts("requester"))


def test_a_rejection_tells_the_requester_and_runs_nothing(flow):
    """Given approvers that are a user group, when a member (resolved by the worker through
    usergroups.users.list: the ack cannot see groups) rejects, then the request is rejected."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    lookups = flow.group_lookups()

    flow.click("opsbot_reject", flow.reject_token(), "U0DAN")
    flow.deliver()

    assert flow.group_lookups() > lookups  # U0DAN is an approver only through S0DBA

    [update] = flow.approval_updates()
    assert "<@U0ALICE>'s `/ops-migrate payment` was rejected by <@U0DAN>. Nothing was run." in update.text
    assert [b["type"] for b in update.payload["blocks"]] == ["section"]
    assert any("rejected by <@U0DAN>. Nothing was run." in t for t in flow.texts("requester"))
    assert not any("Migration" in t for t in flow.texts("requester"))
    assert ("rejected", "rejected by U0DAN") in audit_events(flow)

    flow.expire(APPROVAL_TTL_S + 60)  # then the hour passes: nothing changes

    assert len(flow.approval_updates()) == 1 and not any("expired" in t for t in flow.texts("requester"))


def test_a_reject_by_someone_the_ack_knows_is_no_approver_is_refused_and_the_request_stays_approvable(harness):
    """Given approvers listed by user id, when someone else clicks Reject, then the ack refuses it (to them
    alone), nothing is queued for the worker and nothing changes: an approver can still approve."""
    flow = Flow(harness, approvers='["U0DAN"]')
    flow.command("/ops-migrate payment")
    flow.deliver()

    flow.click("opsbot_reject", flow.reject_token(), "U0EVE")

    assert [type(j.args) for j in flow.queue.jobs] == [NoticeArgs]
    flow.deliver()
    [refused] = flow.texts("approval-U0EVE")
    assert "That rejection was not accepted: you are not one of this request's approvers" in refused
    assert flow.approval_updates() == []  # still open, buttons and all
    assert "rejected" not in [event for event, _ in audit_events(flow)]
    assert not any("rejected" in t for t in flow.texts("requester"))

    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    flow.deliver()

    [update] = flow.approval_updates()
    assert "approved by <@U0DAN>" in update.text
    assert any("Migration of `payment`" in t and "succeeded" in t.lower() for t in flow.texts("requester"))


def test_the_requester_can_withdraw_their_own_request(flow, harness):
    flow.command("/ops-migrate payment")
    flow.deliver()

    flow.click("opsbot_reject", flow.reject_token(), "U0ALICE")
    flow.deliver()

    [update] = flow.approval_updates()
    assert "<@U0ALICE> withdrew their `/ops-migrate payment`. Nothing was run." in update.text
    assert [b["type"] for b in update.payload["blocks"]] == ["section"]
    assert any("You withdrew `/ops-migrate payment`. Nothing was run." in t for t in flow.texts("requester"))
    assert ("rejected", "withdrawn by U0ALICE, the requester") in audit_events(flow)
    assert harness.codebuild.builds_of("payment-migrate") == []

    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")  # too late: the request is over
    flow.deliver()

    assert len(flow.approval_updates()) == 1 and harness.codebuild.builds_of("payment-migrate") == []


def test_a_reject_by_someone_outside_the_approver_group_is_refused_by_the_worker(flow, harness):
    """Given approvers that are a user group, when a non-member clicks Reject, then the ack lets it through
    (it cannot see groups), and the worker, resolving the group, refuses it: told to them alone, audited as
    a denial, nothing decided; an approver can still approve."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    told_before = flow.texts("requester")

    flow.click("opsbot_reject", flow.reject_token(), "U0EVE")
    assert [type(j.args) for j in flow.queue.jobs] == [SettleArgs]  # passed on: only a group could say
    flow.deliver()

    [refused] = flow.ephemerals("U0EVE")
    assert "That rejection was not accepted: you are not one of this request's approvers" in refused
    assert flow.approval_updates() == []
    assert flow.texts("requester") == told_before
    events = audit_events(flow)
    assert "rejected" not in [event for event, _ in events]
    assert ("denial", "rejection refused: <@U0EVE> is not an approver of rule `dba-migrate-prod`") in events

    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    flow.deliver()

    assert "approved by <@U0DAN>" in flow.approval_updates()[0].text
    assert any("Migration of `payment`" in t and "succeeded" in t.lower() for t in flow.texts("requester"))


def test_a_refused_rejection_does_not_stand_in_for_an_approvers_later_one(flow):
    flow.command("/ops-migrate payment")
    flow.deliver()
    flow.click("opsbot_reject", flow.reject_token(), "U0EVE")
    flow.deliver()

    flow.click("opsbot_reject", flow.reject_token(), "U0DAN")
    flow.deliver()

    [update] = flow.approval_updates()
    assert "was rejected by <@U0DAN>" in update.text
    assert ("rejected", "rejected by U0DAN") in audit_events(flow)


def test_a_job_claiming_approval_by_its_own_requester_is_denied_by_the_worker(harness, flow):
    job = harness.job("/ops-migrate payment").model_copy(update={"approved_by": "U0ALICE"})

    harness.run(job, flow.worker)

    assert any("needs the approval of a second person" in m.text for m in harness.slack.messages(key=job.job_id))


def test_an_approval_click_after_an_hour_is_refused_by_the_ack(harness, flow):
    from datetime import timedelta

    from shared.confirm import seal

    old = harness.job("/ops-migrate payment", issued_at=harness.clock.now() - timedelta(seconds=APPROVAL_TTL_S + 1))

    flow.click("opsbot_approve", seal(old, SECRET, "approve"), "U0DAN")

    [notice] = flow.queue.jobs
    assert isinstance(notice.args, NoticeArgs) and "expired" in notice.args.text and notice.replace_original


def audit_events(flow: Flow) -> list[tuple[str, str]]:
    return [(r["event"], r.get("detail", "")) for r in rows(flow.harness, flow.prompt_id)]


def test_an_approval_request_nobody_answers_expires_after_an_hour(flow):
    """Given a request nobody approves or rejects, when its hour has passed, then its message says it expired
    (no buttons left), the requester is told (in the channel: the response_url is past its 30 minutes), and
    the audit trail has it."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    assert flow.timers and flow.approval_updates() == []

    flow.expire(APPROVAL_TTL_S + 60)

    [update] = flow.approval_updates()
    assert "<@U0ALICE>'s `/ops-migrate payment` expired: nobody approved it within 1h 0m. Nothing was run." in (
        update.text
    )
    assert [b["type"] for b in update.payload["blocks"]] == ["section"]
    [told] = [m for m in flow.harness.slack.messages(channel="C0OPS") if m.kind == "chat.postMessage"]
    assert "Your request to run `/ops-migrate payment` expired" in told.text
    assert ("expired", "nobody answered within 3600 s") in audit_events(flow)
    assert audit_events(flow)[-1][0] == "expired"
    assert not any("Migration" in t for t in flow.texts("requester"))


def test_an_approval_then_the_expiry_job_changes_nothing(flow):
    flow.command("/ops-migrate payment")
    flow.deliver()
    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    flow.deliver()
    seen = flow.harness.slack.messages()

    flow.expire(APPROVAL_TTL_S + 60)

    assert flow.harness.slack.messages() == seen
    assert "expired" not in [event for event, _ in audit_events(flow)]


def test_an_approval_that_reaches_the_worker_after_the_expiry_does_not_run(flow, harness):
    """Given an Approve clicked just before the hour ends, when the expiry job reached the worker first,
    then the approved job does not run and the approvals message keeps saying it expired."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")  # accepted by the ack: within the hour
    approved = list(flow.queue.jobs)
    flow.queue.jobs.clear()

    flow.expire(APPROVAL_TTL_S + 60)
    flow.queue.jobs.extend(approved)
    flow.deliver()

    [update] = flow.approval_updates()
    assert "expired" in update.text
    assert harness.codebuild.builds_of("payment-migrate") == []
    told = [m.text for m in harness.slack.messages(channel="C0OPS")]  # past 30 min: in the channel
    assert any("Your request to run `/ops-migrate payment` expired" in t for t in told)
    assert any("was not run: the approval request had expired when the approval arrived" in t for t in told)


def test_a_refused_reject_and_an_approval_resolve_the_approver_group_once(flow):
    """Given approvers that are a user group, when a non-member's Reject (a settle job) and then a member's
    Approve (the dispatcher's check) reach the worker within the group cache's period, then the group is
    listed once: the operations share the worker's user-group cache."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    lookups = flow.group_lookups()

    flow.click("opsbot_reject", flow.reject_token(), "U0EVE")
    flow.deliver()
    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    flow.deliver()

    assert len(flow.ephemerals("U0EVE")) == 1
    assert "approved by <@U0DAN>" in flow.approval_updates()[0].text
    assert flow.group_lookups() == lookups + 1


def test_two_rejections_by_group_members_resolve_the_approver_group_once(flow, harness):
    """Given two members of the approver group, when both click Reject (two settle jobs) within the group
    cache's period, then the group is listed once, and the first rejection stands."""
    harness.slack.set_usergroup("S0DBA", ["U0DAN", "U0DEB"])
    flow.command("/ops-migrate payment")
    flow.deliver()
    lookups = flow.group_lookups()

    flow.click("opsbot_reject", flow.reject_token(), "U0DEB")
    flow.deliver()
    flow.click("opsbot_reject", flow.reject_token(), "U0DAN")
    flow.deliver()

    [update] = flow.approval_updates()
    assert "was rejected by <@U0DEB>" in update.text
    assert flow.group_lookups() == lookups + 1


def test_a_failed_user_group_lookup_asks_the_approver_to_try_again_and_decides_nothing(flow, harness):
    """Given Slack failing to list the approver group (HTTP 500, retries used up), when a member clicks Approve,
    then they are told to try again (not that they are no approver), the delivery fails (SQS retries it), and
    nothing is decided, audited as a denial, cached or stored: their next click, with Slack back, approves
    and runs the migration."""
    flow.command("/ops-migrate payment")
    flow.deliver()
    harness.slack.inject_fault("usergroups.users.list", 500, times=10)

    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")
    with pytest.raises(GroupLookupError):  # transient: SQS would deliver it again
        flow.deliver()

    [told] = flow.ephemerals("U0DAN")
    assert "could not check your group membership, try again" in told
    assert "not one of this request's approvers" not in told
    assert flow.approval_updates() == [] and harness.codebuild.builds_of("payment-migrate") == []
    assert not {"denial", "approval", "start"} & {event for event, _ in audit_events(flow)}

    harness.slack.clear_faults()
    flow.click("opsbot_approve", flow.approval_token(), "U0DAN")  # the same click again: asks Slack again
    flow.deliver()

    [update] = flow.approval_updates()
    assert "approved by <@U0DAN>" in update.text
    assert len(harness.codebuild.builds_of("payment-migrate")) == 1
