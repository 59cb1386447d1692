"""Running a CodeBuild project and following the build to its end, one step per look."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.blockkit import SlackMessage, escape, humanize_seconds
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import JOB_MARKER, OperationContext, StepResult, StepState, Wait
from worker_function.store.intents import Intent
from worker_function.tracking import Stopped

#: What running a project's builds calls: start and follow (and find again on a retry), and stop (/ops-cancel).
BUILD_ACTIONS = (
    "codebuild:BatchGetBuilds",
    "codebuild:ListBuildsForProject",
    "codebuild:StartBuild",
    "codebuild:StopBuild",
)
#: buildStatus values of a build that has ended.
SUCCEEDED = "SUCCEEDED"
ENDED = frozenset({"SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"})


def console_url(region: str, build_id: str) -> str:
    project = build_id.split(":", 1)[0]
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/{quote(project, safe='')}"
        f"/build/{quote(build_id, safe='')}/?region={region}"
    )


class BuildState(StepState):
    """The CodeBuild build a job follows, and its console link."""

    build_id: str
    link: str | None = None


def start(
    ctx: OperationContext,
    aws: Clients,
    job: JobEnvelope,
    project: str,
    what: str,
    *,
    variables: dict[str, str] | None = None,
) -> Wait:
    """StartBuild, once at CodeBuild (`StartBuildOnce`) in `aws`'s account and region; the next step follows
    the build."""
    intent = ctx.intent(job, "codebuild-start", f"start {project}", project=project)
    build = ctx.effect(StartBuildOnce(aws, project, dict(variables or {}), intent))
    link = console_url(aws.region, build["id"])
    return Wait(
        progress=job_messages.progress(f"{what} started: CodeBuild build `{build['id']}`.", link=link, label="build"),
        state=BuildState(build_id=build["id"], link=link, summary="started"),
        delay_s=ctx.poll_delay(),
    )


#: How many of the project's newest builds a retry looks through for the one this job started.
RECONCILE_BUILDS = 25


@dataclass(frozen=True)
class StartBuildOnce:
    """StartBuild with `idempotencyToken` (CodeBuild keeps it 5 minutes only) and the intent's token in an
    environment variable override (`OPSBOT_JOB_ID`): a retry, however late, finds the build it started
    among the project's newest builds. `aws`: the project's clients, for the call and its reconciliation alike."""

    aws: Clients
    project: str
    variables: dict[str, str]
    intent: Intent

    def call(self, intent: Intent) -> dict[str, Any]:
        variables = {**self.variables, JOB_MARKER: intent.token}
        overrides = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()]
        with classify_aws_errors(f"cannot start CodeBuild project `{self.project}`"):
            response = self.aws.once("codebuild").start_build(
                projectName=self.project, environmentVariablesOverride=overrides, idempotencyToken=intent.token
            )
        return dict(response["build"])

    def reconcile(self, intent: Intent) -> dict[str, Any] | None:
        codebuild = self.aws.client("codebuild")
        with classify_aws_errors(f"cannot list the builds of CodeBuild project `{self.project}`"):
            ids = codebuild.list_builds_for_project(projectName=self.project, sortOrder="DESCENDING").get("ids", [])
            builds = codebuild.batch_get_builds(ids=ids[:RECONCILE_BUILDS]).get("builds", []) if ids else []
        for build in builds:
            marks = (build.get("environment") or {}).get("environmentVariables") or []
            if any(v.get("name") == JOB_MARKER and v.get("value") == intent.token for v in marks):
                return dict(build)
        return None

    def assumed(self, intent: Intent) -> dict[str, Any]:
        raise AssertionError("CodeBuild shows its builds: never unknowable")


def follow(
    ctx: OperationContext,
    aws: Clients,
    state: BuildState,
    what: str,
    finish: Callable[[dict[str, Any], float], SlackMessage],
) -> StepResult:
    """BatchGetBuilds: still running is a `Wait` with the current phase; ended goes to `finish(build, seconds)`."""
    with classify_aws_errors(f"cannot read CodeBuild build `{state.build_id}`"):
        builds = aws.client("codebuild").batch_get_builds(ids=[state.build_id]).get("builds", [])
    if not builds:
        raise PermanentJobError(f"CodeBuild has no build `{state.build_id}`")
    build = builds[0]
    status = build.get("buildStatus", "IN_PROGRESS")
    started = build.get("startTime")
    if status in ENDED:
        ended = build.get("endTime") or ctx.now()
        seconds = (ended - started).total_seconds() if isinstance(started, datetime) else 0.0
        return finish(build, seconds)
    phase = str(build.get("currentPhase", "?")).lower().replace("_", " ")
    return Wait(
        progress=job_messages.progress(
            f"{what}: build `{build['id']}` in phase {phase}.",
            link=state.link,
            label="build",
        ),
        state=state.changed(summary=f"phase {phase}"),
        delay_s=ctx.poll_delay(),
    )


def stop(aws: Clients, state: BuildState) -> Stopped:
    """/ops-cancel: StopBuild of the build the job follows; a build that had ended by itself is said so."""
    with classify_aws_errors(f"cannot stop CodeBuild build `{state.build_id}`"):
        build = aws.client("codebuild").stop_build(id=state.build_id).get("build") or {}
    status = str(build.get("buildStatus", "IN_PROGRESS"))
    if status in ENDED and status != "STOPPED":
        return Stopped(lines=[f"CodeBuild build `{state.build_id}` had already ended: {status}"], completed=status)
    return Stopped(lines=[f"CodeBuild build `{state.build_id}` stopped (StopBuild)", "no later step runs"])


def last_build_lines(aws: Clients, project: str, now: datetime) -> list[str]:
    """The project's newest build as one line (read-only: a dry run's "now"), or that it has none."""
    codebuild = aws.client("codebuild")
    with classify_aws_errors(f"cannot list the builds of CodeBuild project `{project}`"):
        ids = codebuild.list_builds_for_project(projectName=project, sortOrder="DESCENDING").get("ids", [])
        builds = codebuild.batch_get_builds(ids=ids[:1]).get("builds", []) if ids else []
    if not builds:
        return [f"CodeBuild project `{escape(project)}` has no builds yet"]
    build = builds[0]
    status = escape(str(build.get("buildStatus", "?")).lower().replace("_", " "))
    started = build.get("startTime")
    ago = f", started {humanize_seconds((now - started).total_seconds())} ago" if started else ""
    line = f"Last build of `{escape(project)}`: `{escape(build.get('id', '?'))}` {status}{ago}"
    return [line]


def log_link(build: dict[str, Any]) -> str | None:
    link = (build.get("logs") or {}).get("deepLink")
    return str(link) if link else None


def outcome_of(build: dict[str, Any]) -> bool | None:
    status = build.get("buildStatus")
    return True if status == SUCCEEDED else (None if status == "STOPPED" else False)


def outcome_line(what: str, build: dict[str, Any], seconds: float, extra: Sequence[str] = ()) -> SlackMessage:
    status = str(build.get("buildStatus", "?"))
    headline = f"{what} {status.lower().replace('_', ' ')} in {humanize_seconds(seconds)}: build `{build['id']}`."
    return job_messages.outcome(outcome_of(build), headline, extra, link=log_link(build), label="logs", in_channel=True)
