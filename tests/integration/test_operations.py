"""Each operation through the real worker on moto, the local CodeBuild and the local Jenkins: what the
requester saw, and what ran. Long jobs run as steps re-queued on SQS; the clock is moved by hand."""

from __future__ import annotations

import json

import pytest

from shared.jobs import JobEnvelope
from tests.integration.conftest import gone_and_stuck_toml
from worker_function.errors import SlackDeliveryError


def texts(harness, job) -> list[str]:
    return [m.text for m in harness.slack.messages(job=job.job_id)]


def final(harness, job):
    finals = [m for m in harness.slack.messages(job=job.job_id) if m.final]
    assert len(finals) == 1, [m.text for m in harness.slack.messages(job=job.job_id)]
    return finals[0]


# -- /ops-restart --------------------------------------------------------------------------------


def test_given_an_ecs_target_when_restarted_then_the_rollout_is_followed_to_completed(harness):
    job = harness.job("/ops-restart payment")

    steps = harness.run(job)

    assert steps == 2  # force new deployment, then one look at the rollout
    deployment = harness.primary_deployment("payment")
    first, last = texts(harness, job)
    assert "Restart of `payment` started" in first and deployment in first
    assert "Restart of `payment` completed" in last and "2/2 running" in last
    assert final(harness, job).payload["replace_original"] is True  # one message, updated in place


def test_given_a_rollout_that_never_completes_when_past_its_maximum_age_then_it_is_stopped_and_reported(harness):
    from infra.devstack.aws import aws_client

    ecs = aws_client("ecs", harness.moto.endpoint_url)
    ecs.create_service(  # moto runs 2 tasks: with 3 desired the rollout stays IN_PROGRESS
        cluster=harness.cluster, serviceName="stuck", taskDefinition="payment", desiredCount=3, launchType="FARGATE"
    )
    harness.inventory_toml = gone_and_stuck_toml(harness.cluster)
    harness.poll_s = 600
    job = harness.job("/ops-restart stuck")

    steps = harness.run(job, max_steps=200)

    assert steps == 3600 // 600 + 2  # one look per poll interval for the hour /ops-restart may take
    message = final(harness, job)
    assert "stopped after 1h" in message.text and "maximum of 1h 0m" in message.text
    assert "2/3 running" in json.dumps(message.payload["blocks"])  # the last thing seen
    assert harness.dispatcher().leases.holder("stuck") is None  # the target is free again


def test_given_ec2_instances_when_rebooted_then_it_waits_for_status_checks(harness):
    job = harness.job("/ops-restart bastion")

    harness.run(job)

    first, last = texts(harness, job)
    assert "Reboot of `bastion` requested: 2 instances" in first
    assert "Reboot of `bastion` completed: status checks pass" in last


def test_given_a_busy_target_when_restarted_then_it_is_refused_with_the_holder(harness):
    running = harness.job("/ops-restart checkout")
    worker = harness.dispatcher()
    worker.handle_record(running.to_message(), 1)  # step 0 done: the job waits, holding its lease
    other = harness.job("/ops-restart checkout")

    worker.handle_record(other.to_message(), 1)

    assert f"(job `{running.short_id}`)" in final(harness, other).text


# -- /ops-status, /deploy-status -----------------------------------------------------------------


def test_status_of_a_service_and_of_instances(harness):
    service, instances = harness.job("/ops-status payment"), harness.job("/ops-status bastion")
    worker = harness.dispatcher()

    worker.handle_record(service.to_message(), 1)
    worker.handle_record(instances.to_message(), 1)

    assert "`payment`" in final(harness, service).text and "2/2 tasks running" in final(harness, service).text
    shown = json.dumps(final(harness, instances).payload["blocks"])
    assert "2/2 instances running" in shown and "instance check ok, system check ok" in shown


def test_deploy_status_shows_the_pipeline_stages_where_the_target_has_one(harness):
    with_pipeline, without = harness.job("/deploy-status payment"), harness.job("/deploy-status checkout")
    worker = harness.dispatcher()

    worker.handle_record(with_pipeline.to_message(), 1)
    worker.handle_record(without.to_message(), 1)

    text = final(harness, with_pipeline).text
    assert "*PRIMARY*" in text and "Pipeline `payment-pipeline`" in text
    assert "Deploy inprogress: deploying payment:2" in text
    assert "Pipeline" not in final(harness, without).text


# -- /ops-logs -----------------------------------------------------------------------------------


def test_logs_come_back_as_a_table_truncated_with_a_count(harness):
    job = harness.job("/ops-logs payment --since 1h")

    harness.run(job)

    text = final(harness, job).text
    assert "*Logs of `payment`* since 1h" in text and "GET /health 200" in text
    assert "…and 25 more lines not shown." in text  # 40 sample lines, 15 shown


def table_lines(text: str) -> list[str]:
    return text.split("```")[1].strip().splitlines() if "```" in text else []


def test_logs_honour_the_query_and_the_time_range_on_the_local_stack(harness):
    """The local stand-in (moto with `infra.devstack.moto_logs`) applies the filter, `--since` and the limit."""
    import time
    import uuid

    from infra.devstack.aws import aws_client
    from infra.devstack.demo import log_group

    marker = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    lines = [
        (now_ms - 30 * 60_000, f"ERROR payment: old {marker}"),  # outside --since 15m
        (now_ms - 60_000, f"ERROR payment: fresh {marker}"),
        (now_ms - 50_000, f"INFO payment: fresh {marker}"),
        (now_ms - 40_000, f"INFO payment: fresh {marker}"),
    ]
    logs = aws_client("logs", harness.moto.endpoint_url)
    logs.create_log_stream(logGroupName=log_group("payment"), logStreamName=f"test/{marker}")
    logs.put_log_events(
        logGroupName=log_group("payment"),
        logStreamName=f"test/{marker}",
        logEvents=[{"timestamp": at, "message": message} for at, message in lines],
    )
    errors = harness.job("/ops-logs payment --since 15m ERROR")
    recent = harness.job(f"/ops-logs payment --since 15m {marker}")
    limited = harness.job("/ops-logs payment --since 1h fields @timestamp, @message | limit 3")

    for job in (errors, recent, limited):
        harness.run(job)

    error_lines = [line.split("  ", 1)[1] for line in table_lines(final(harness, errors).text)]
    assert f"ERROR payment: fresh {marker}" in error_lines
    assert all(line.startswith("ERROR ") for line in error_lines)  # the demo's INFO lines and ours filtered out
    shown = [line.split("  ", 1)[1] for line in table_lines(final(harness, recent).text)]
    assert sorted(shown) == sorted(m for at, m in lines if at > now_ms - 15 * 60_000)
    assert len(table_lines(final(harness, limited).text)) == 3


def test_the_filter_clauses_the_stand_in_applies():
    from infra.devstack.moto_logs import message_filters

    [like] = message_filters("fields @message | filter @message like /ERR(OR)?/ | limit 5")
    [unlike] = message_filters('fields @message | filter @message not like "health"')

    assert like("ERROR x") and not like("INFO x")
    assert unlike("ERROR x") and not unlike("GET /health 200")
    assert message_filters("fields @message | stats count(*)") == []


def test_logs_of_a_target_without_log_groups_name_the_targets_that_have_some(harness):
    job = harness.job("/ops-logs bastion")

    harness.run(job)

    assert "Known targets, closest first: `checkout`, `payment`" in final(harness, job).text or (
        "Known targets, closest first: `payment`, `checkout`" in final(harness, job).text
    )


# -- /ops-build (Jenkins) ------------------------------------------------------------------------


def test_a_jenkins_build_is_followed_from_queue_item_to_result_with_its_link(harness):
    job = harness.job("/ops-build deploy-web ENV=prod VERSION=1.2.3")

    harness.run(job)

    [queued] = harness.jenkins.queued
    # The user's parameters, and the job's mark that lets a retry find this build (exactly once at Jenkins).
    marker = {"OPSBOT_JOB_ID": f"opsbot-{job.job_id}-0-jenkins-build"}
    assert queued.job == "web/deploy" and queued.parameters == {"ENV": "prod", "VERSION": "1.2.3", **marker}
    assert all(c.crumb for c in harness.jenkins.calls if c.method == "POST")
    message = final(harness, job)
    assert "Jenkins `web/deploy` #1 SUCCESS" in message.text
    assert f"{harness.jenkins.url}job/web/job/deploy/1/" in json.dumps(message.payload["blocks"])


def test_a_failed_jenkins_build_is_reported_failed(harness):
    harness.jenkins.add_job("web/deploy", queue_s=0, build_s=60, result="FAILURE")
    job = harness.job("/ops-build deploy-web")

    harness.run(job)

    assert ":x: Jenkins `web/deploy` #1 FAILURE in 1m 0s" in final(harness, job).text


def test_an_unknown_jenkins_job_lists_the_known_ones(harness):
    job = harness.job("/ops-build deploy-wbe")

    harness.run(job)

    assert "I don't know Jenkins job `deploy-wbe`" in final(harness, job).text and harness.jenkins.queued == []


# -- /ops-migrate, /ops-regression (CodeBuild) ---------------------------------------------------


def test_a_migration_runs_its_codebuild_project_with_the_version_and_reports_duration_and_logs(harness):
    job = harness.job("/ops-migrate payment 2024.06.1")

    harness.run(job)

    [build] = harness.codebuild.builds_of("payment-migrate")
    marker = {"OPSBOT_JOB_ID": f"opsbot-{job.job_id}-0-codebuild-start"}  # a retry finds this build by it
    assert build.variables == {"MIGRATION_VERSION": "2024.06.1", **marker}
    message = final(harness, job)
    assert "Migration of `payment` to `2024.06.1` succeeded in 10m 0s" in message.text
    assert "logEvent:group=/aws/codebuild/payment-migrate" in json.dumps(message.payload["blocks"])


def test_a_failed_migration_is_reported_failed(harness):
    harness.codebuild.add_project("payment-migrate", duration_s=90, status="FAILED")
    job = harness.job("/ops-migrate payment")

    harness.run(job)

    assert ":x: Migration of `payment` failed in 1m 30s" in final(harness, job).text


def test_a_regression_suite_reports_passed_failed_and_skipped_from_its_test_report(harness):
    harness.codebuild.add_project(
        "regression-smoke", duration_s=120, status="FAILED", tests={"SUCCEEDED": 40, "FAILED": 2, "SKIPPED": 3}
    )
    job = harness.job("/ops-regression smoke")

    harness.run(job)

    shown = json.dumps(final(harness, job).payload["blocks"])
    assert "Regression suite `smoke` failed in 2m 0s" in shown and "40 passed, 2 failed, 3 skipped* (of 45)" in shown


def test_an_unknown_suite_lists_the_known_ones_and_nothing_runs(harness):
    job = harness.job("/ops-regression smok")

    harness.run(job)

    assert "I don't know suite `smok`. Known suites, closest first: `smoke`" in final(harness, job).text
    assert harness.codebuild.builds == {}


def test_help_lists_every_command_with_the_targets_it_accepts(harness):
    job = harness.job("/ops-help")

    harness.run(job)

    text = final(harness, job).text
    assert "`/ops-restart &lt;target&gt;`" in text and "Accepts: `bastion`, `checkout`, `payment`" in text
    assert "`/ops-regression &lt;suite&gt;`" in text and "Accepts: `smoke`" in text
    assert "`/ops-build &lt;job&gt; [key=value ...]`" in text and "`deploy-web`" in text


# -- long runs: continuations ------------------------------------------------------------------


def test_a_two_hour_migration_shows_progress_and_one_final_result_and_no_step_runs_twice(harness):
    harness.codebuild.add_project("payment-migrate", duration_s=2 * 3600)
    harness.poll_s = 300  # SQS's delay is 900 s at most: a real run would look every 5-15 minutes
    job = harness.job("/ops-migrate payment")

    steps = harness.run(job, max_steps=400)

    assert steps == 2 * 3600 // 300 + 1
    assert len(harness.codebuild.builds_of("payment-migrate")) == 1  # started once
    messages = harness.slack.messages(job=job.job_id)
    assert [m.final for m in messages].count(True) == 1 and messages[-1].final
    assert "succeeded in 2h 0m" in messages[-1].text and "asked by <@U0ALICE>" in json.dumps(messages[-1].payload)
    # response_url while it lasts (5 uses, 30 min), then one channel message edited in place.
    kinds = [m.kind for m in messages]
    on_url = kinds.count("response_url")
    assert 1 <= on_url <= 5 and kinds[:on_url] == ["response_url"] * on_url
    assert kinds[on_url] == "chat.postMessage" and set(kinds[on_url + 1 :]) == {"chat.update"}
    assert len({m.ts for m in messages if m.kind != "response_url"}) == 1
    # Progress changes only when the phase does: far fewer messages than steps (Slack's rate limits).
    assert len(messages) < steps


def test_a_crash_between_steps_resumes_from_the_saved_state_without_rerunning_a_step(harness):
    job = harness.job("/ops-migrate payment")
    harness.slack.inject_fault("response_url", 500, times=1)
    harness.slack.inject_fault("chat.postMessage", 500, times=1)
    crashing = harness.dispatcher(slack_max_retries=0)

    with pytest.raises(SlackDeliveryError):  # the build started; telling the requester failed
        crashing.handle_record(job.to_message(), 1)
    assert harness.queued() == []  # nothing queued: the step is not done yet
    harness.run(job)  # SQS delivers it again: the kept outcome is shown, the next step queued

    assert len(harness.codebuild.builds_of("payment-migrate")) == 1
    assert "succeeded" in final(harness, job).text


def test_a_step_delivered_twice_runs_once_and_queues_its_next_step_once(harness):
    job = harness.job("/ops-build deploy-web")
    worker = harness.dispatcher()
    worker.handle_record(job.to_message(), 1)
    [step1] = harness.queued()

    worker.handle_record(step1["Body"], 1)
    worker.handle_record(step1["Body"], 2)  # the duplicate
    harness.delete(step1)

    queued = harness.queued()
    assert [harness.steps_of(m) for m in queued] == [2]
    assert len(harness.jenkins.queued) == 1


def test_a_continuation_envelope_is_schema_v2_and_round_trips(harness):
    job = harness.job("/ops-migrate payment")
    harness.dispatcher().handle_record(job.to_message(), 1)

    [message] = harness.queued()
    body = json.loads(message["Body"])
    assert body["schema_version"] == 2 and body["continuation"]["step"] == 1
    assert body["continuation"]["state"]["build_id"].startswith("payment-migrate:")
    assert JobEnvelope.from_message(message["Body"]).continuation is not None


def test_a_step_back_from_the_queue_with_a_stale_state_fails_once_with_a_clear_message(harness):
    job = harness.job("/ops-migrate payment")
    worker = harness.dispatcher()
    worker.handle_record(job.to_message(), 1)
    [message] = harness.queued()
    harness.delete(message)
    step1 = JobEnvelope.from_message(message["Body"])
    assert step1.continuation is not None
    stale = {**step1.continuation.model_dump(mode="json"), "state": {"buildId": "payment-migrate:1"}}

    worker.handle_record(step1.changed(continuation=stale).to_message(), 1)  # no KeyError, no retry

    assert "step 1 of `migrate` cannot resume" in final(harness, job).text
    assert harness.queued() == [] and harness.dead_letters() == []
    assert len(harness.codebuild.builds_of("payment-migrate")) == 1
