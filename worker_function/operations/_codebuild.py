"""Running a CodeBuild project and following the build to its end, one step per look."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared import messages
from shared.messages import SlackMessage
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext, StepResult, Wait

#: buildStatus values of a build that has ended.
SUCCEEDED = "SUCCEEDED"
ENDED = frozenset({"SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"})


def console_url(region: str, build_id: str) -> str:
    project = build_id.split(":", 1)[0]
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/{quote(project, safe='')}"
        f"/build/{quote(build_id, safe='')}/?region={region}"
    )


def start(ctx: OperationContext, project: str, what: str, *, variables: dict[str, str] | None = None) -> Wait:
    """StartBuild; the next step follows the build."""
    overrides = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in (variables or {}).items()]
    kwargs: dict[str, Any] = {"projectName": project}
    if overrides:
        kwargs["environmentVariablesOverride"] = overrides
    with classify_aws_errors(f"cannot start CodeBuild project `{project}`"):
        build = ctx.aws.client("codebuild").start_build(**kwargs)["build"]
    link = console_url(ctx.settings.aws_region, build["id"])
    return Wait(
        progress=messages.progress(f"{what} started: CodeBuild build `{build['id']}`.", link=link, label="build"),
        state={"build_id": build["id"], "link": link, "summary": "started"},
        delay_s=ctx.poll_delay(),
    )


def follow(
    ctx: OperationContext,
    state: dict[str, Any],
    what: str,
    finish: Callable[[dict[str, Any], float], SlackMessage],
) -> StepResult:
    """BatchGetBuilds: still running is a `Wait` with the current phase; ended goes to `finish(build, seconds)`."""
    with classify_aws_errors(f"cannot read CodeBuild build `{state['build_id']}`"):
        builds = ctx.aws.client("codebuild").batch_get_builds(ids=[state["build_id"]]).get("builds", [])
    if not builds:
        raise PermanentJobError(f"CodeBuild has no build `{state['build_id']}`")
    build = builds[0]
    status = build.get("buildStatus", "IN_PROGRESS")
    started = build.get("startTime")
    if status in ENDED:
        ended = build.get("endTime") or ctx.now()
        seconds = (ended - started).total_seconds() if isinstance(started, datetime) else 0.0
        return finish(build, seconds)
    phase = str(build.get("currentPhase", "?")).lower().replace("_", " ")
    return Wait(
        progress=messages.progress(
            f"{what}: build `{build['id']}` in phase {phase}.",
            link=state.get("link"),
            label="build",
        ),
        state={**state, "summary": f"phase {phase}"},
        delay_s=ctx.poll_delay(),
    )


def log_link(build: dict[str, Any]) -> str | None:
    link = (build.get("logs") or {}).get("deepLink")
    return str(link) if link else None


def outcome_of(build: dict[str, Any]) -> bool | None:
    status = build.get("buildStatus")
    return True if status == SUCCEEDED else (None if status == "STOPPED" else False)


def outcome_line(what: str, build: dict[str, Any], seconds: float, extra: Sequence[str] = ()) -> SlackMessage:
    status = str(build.get("buildStatus", "?"))
    headline = (
        f"{what} {status.lower().replace('_', ' ')} in {messages.humanize_seconds(seconds)}: build `{build['id']}`."
    )
    return messages.outcome(outcome_of(build), headline, extra, link=log_link(build), label="logs", in_channel=True)
