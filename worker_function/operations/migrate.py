"""/ops-migrate <target> [version]: runs the target's migration CodeBuild project (the version goes in as
an environment variable) and follows it to the end: duration, outcome and the log link."""

from __future__ import annotations

from typing import Any

from shared import blockkit
from shared.commands.builtin.migrate import MigrateArgs
from shared.jobs import JobEnvelope
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


def _what(args: MigrateArgs) -> str:
    return f"Migration of `{args.target}`" + (f" to `{args.version}`" if args.version else "")


class MigrateOperation:
    """The operation of `migrate` (see the module's docstring)."""

    state = State
    effects = (StartBuildOnce,)
    permissions = (Grant(_codebuild.BUILD_ACTIONS, on="codebuild_project"),)

    def run(self, args: MigrateArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        target = ctx.inventory.target(args.target, "migration")
        migration = target.migration
        assert migration is not None
        variables = {migration.version_variable: args.version} if args.version else None
        aws = ctx.aws_for(target, job)
        return start(ctx, aws, job, migration.codebuild_project, _what(args), variables=variables)

    def resume(self, args: MigrateArgs, job: JobEnvelope, ctx: OperationContext, state: BuildState) -> StepResult:
        aws = ctx.aws_for(ctx.inventory.target(args.target, "migration"), job)
        return follow(ctx, aws, state, _what(args), lambda build, seconds: outcome_line(_what(args), build, seconds))

    def stop(self, args: MigrateArgs, job: JobEnvelope, ctx: OperationContext, state: BuildState) -> Stopped:
        """/ops-cancel: StopBuild of the build, in the target's account and region."""
        return stop_build(ctx.aws_for(ctx.inventory.target(args.target, "migration"), job), state)

    def preview(self, args: MigrateArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The migration project's last build, and the build that would start."""
        target = ctx.inventory.target(args.target, "migration")
        migration = target.migration
        assert migration is not None
        project = blockkit.escape(migration.codebuild_project)
        version = (
            f"with {migration.version_variable}={blockkit.escape(args.version)}"
            if args.version
            else "at the project's default version"
        )
        change = f"start CodeBuild project `{project}` {version}, then follow the build to its end"
        return Preview(
            now=last_build_lines(ctx.aws_for(target, job), migration.codebuild_project, ctx.now()), change=change
        )


OPERATION: Resumable[MigrateArgs, Any] = MigrateOperation()
