"""/ops-regression <suite>: runs the suite's CodeBuild project, follows it to the end, and reports
passed/failed/skipped from the build's CodeBuild test reports when it has any."""

from __future__ import annotations

from typing import Any

from shared.blockkit import SlackMessage, escape
from shared.commands.builtin.regression import RegressionArgs
from shared.jobs import JobEnvelope
from worker_function.clients import Clients
from worker_function.errors import classify_aws_errors
from worker_function.operations import OperationContext, Preview, StepResult, _codebuild
from worker_function.operations._codebuild import (
    BuildState,
    StartBuildOnce,
    follow,
    last_build_lines,
    outcome_line,
    start,
)
from worker_function.operations._codebuild import stop as stop_build
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.tracking import Stopped

State = BuildState


def _aws(ctx: OperationContext) -> Clients:
    """Suites live in the worker's own account and region (the inventory gives them no account; the CDK grants
    their projects to the worker's own role)."""
    return ctx.aws


def test_summary(aws: Clients, build: dict[str, Any]) -> list[str]:
    """`N passed, N failed, N skipped (of N)` from the build's test reports; nothing when it has none."""
    arns = build.get("reportArns") or []
    if not arns:
        return ["_No test report._"]
    with classify_aws_errors("cannot read the test reports"):
        reports = aws.client("codebuild").batch_get_reports(reportArns=arns).get("reports", [])
    counts: dict[str, int] = {}
    total = 0
    for report in reports:
        summary = report.get("testSummary") or {}
        total += int(summary.get("total", 0))
        for status, n in (summary.get("statusCounts") or {}).items():
            counts[status] = counts.get(status, 0) + int(n)
    passed = counts.get("SUCCEEDED", 0)
    failed = counts.get("FAILED", 0) + counts.get("ERROR", 0)
    skipped = counts.get("SKIPPED", 0)
    return [f"*{passed} passed, {failed} failed, {skipped} skipped* (of {total})"]


class RegressionOperation:
    """The operation of `regression` (see the module's docstring)."""

    state = State
    effects = (StartBuildOnce,)
    permissions = (
        Grant(_codebuild.BUILD_ACTIONS, on="codebuild_project"),
        Grant(("codebuild:BatchGetReports",), on="report_group"),
    )

    def run(self, args: RegressionArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        suite = ctx.inventory.suite(args.suite)
        return start(ctx, _aws(ctx), job, suite.codebuild_project, f"Regression suite `{args.suite}`")

    def stop(self, args: RegressionArgs, job: JobEnvelope, ctx: OperationContext, state: BuildState) -> Stopped:
        """/ops-cancel: StopBuild of the suite's build."""
        return stop_build(_aws(ctx), state)

    def preview(self, args: RegressionArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The suite project's last build, and the build that would start."""
        project = ctx.inventory.suite(args.suite).codebuild_project
        change = f"start CodeBuild project `{escape(project)}`, follow the build to its end and report its test results"
        return Preview(now=last_build_lines(_aws(ctx), project, ctx.now()), change=change)

    def resume(self, args: RegressionArgs, job: JobEnvelope, ctx: OperationContext, state: BuildState) -> StepResult:
        what = f"Regression suite `{args.suite}`"

        def finish(build: dict[str, Any], seconds: float) -> SlackMessage:
            return outcome_line(what, build, seconds, test_summary(_aws(ctx), build))

        return follow(ctx, _aws(ctx), state, what, finish)


OPERATION: Resumable[RegressionArgs, Any] = RegressionOperation()
