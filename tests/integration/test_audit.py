"""The audit trail: each request, denial, confirmation, start and outcome in DynamoDB; /ops-audit shows them."""

from __future__ import annotations

from infra.devstack.aws import aws_client
from shared.commands import AuditNoteArgs
from shared.jobs import Requester
from tests.integration.test_policy_worker import with_policy


def rows(harness, job_id: str) -> list[dict]:
    items = aws_client("dynamodb", harness.moto.endpoint_url).scan(TableName=harness.tables.audit)["Items"]
    return sorted(
        ({k: next(iter(v.values())) for k, v in item.items()} for item in items if item["job_id"]["S"] == job_id),
        key=lambda r: r["sk"],
    )


def test_a_confirmed_job_leaves_request_confirmation_start_and_outcome(harness):
    job = harness.job("/ops-ping 0").model_copy(update={"confirmed_by": "U0ALICE", "replace_original": True})

    harness.run(job)
    harness.run(job)  # redelivered: the same items, no more

    records = rows(harness, job.job_id)
    assert [r["event"] for r in records] == ["request", "confirmation", "start", "outcome"]
    first = records[0]
    assert (first["command"], first["user_id"], first["channel_id"], first["target"]) == (
        "/ops-ping",
        "U0ALICE",
        "C0OPS",
        "-",
    )
    assert "pong" in records[-1]["detail"] and int(records[-1]["expires_at"]) > 0


def test_a_denial_by_the_worker_is_recorded_with_its_rule(harness):
    with_policy(harness)
    job = harness.job("/ops-restart payment").model_copy(
        update={"requester": Requester(user_id="U0EVE", team_id="T0001", channel_id="C0OPS")}
    )

    harness.run(job)

    events = [(r["event"], r["target"]) for r in rows(harness, job.job_id)]
    assert events == [("request", "payment"), ("denial", "payment"), ("outcome", "payment")]
    assert "sre-restart-prod" in rows(harness, job.job_id)[1]["detail"]


def test_a_denial_by_the_ack_is_recorded_and_nobody_is_messaged(harness):
    job = harness.job("/ops-migrate payment")
    note = job.model_copy(update={"args": AuditNoteArgs(target="payment", detail="denied by rule x")})

    harness.dispatcher().handle_record(note.to_message(), 1)

    assert [(r["event"], r["detail"]) for r in rows(harness, job.job_id)] == [("denial", "denied by rule x")]
    assert harness.slack.messages() == []


def test_ops_audit_shows_a_targets_recent_history_newest_first(harness):
    harness.run(harness.job("/deploy-status checkout"))
    harness.clock.advance(5)
    harness.run(harness.job("/ops-status checkout"))
    audit = harness.job("/ops-audit checkout")

    harness.run(audit)

    [message] = harness.slack.messages(key=audit.job_id)
    lines = message.text.splitlines()
    assert lines[0] == "*Recent history of `checkout`*"
    assert "*outcome* `/ops-status checkout` by <@U0ALICE> in <#C0OPS>" in lines[1]
    assert sum("`/deploy-status checkout`" in line for line in lines) == 3


def test_opsbot_audit_exports_json_lines(harness):
    import json

    from infra.cli.audit import audit_records, to_json_lines

    job = harness.job("/ops-status payment")
    harness.run(job)
    client = aws_client("dynamodb", harness.moto.endpoint_url)

    lines = list(to_json_lines(audit_records(client, harness.tables.audit, target="payment")))
    everything = list(to_json_lines(audit_records(client, harness.tables.audit)))

    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == ["outcome", "start", "request"]
    assert {r["job_id"] for r in records} == {job.job_id} and records[0]["user_id"] == "U0ALICE"
    assert sorted(everything) == sorted(lines)


def _opsbot_audit(harness, monkeypatch, *args: str) -> int:
    from infra.cli.main import main

    for name, value in {
        "AWS_ENDPOINT_URL": harness.moto.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return main(["audit", "--table", harness.tables.audit, *args])


def test_opsbot_audit_without_a_target_is_newest_first_across_targets(harness, monkeypatch, capsys):
    import json

    for line in ("/ops-status checkout", "/ops-status payment", "/ops-ping", "/deploy-status checkout"):
        harness.run(harness.job(line, issued_at=harness.clock.now()))
        harness.clock.advance(5)
    capsys.readouterr()

    assert _opsbot_audit(harness, monkeypatch, "--json") == 0

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    moments = [r["at"] for r in records]
    assert moments == sorted(moments, reverse=True)
    assert records[0]["command"] == "/deploy-status" and records[-1]["command"] == "/ops-status"
    assert records[-1]["target"] == "checkout"


def test_opsbot_audit_help_is_true_and_an_unknown_target_lists_only_targets(harness, monkeypatch, capsys):
    from infra.cli.main import build_parser

    harness.run(harness.job("/ops-ping"))
    harness.run(harness.job("/ops-status payment"))
    capsys.readouterr()

    assert _opsbot_audit(harness, monkeypatch, "--target", "nosuch") == 1

    err = capsys.readouterr().err
    assert "no audit records for target nosuch; targets with records: payment" in err
    assert "-" not in err.split("targets with records:")[1]
    [sub] = [a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict)]
    audit_help = " ".join(sub.choices["audit"].format_help().split())
    assert "newest first" in audit_help and "a table" in audit_help and "--json" in audit_help
    assert "export the audit trail as JSON lines" not in " ".join(build_parser().format_help().split())
