"""/ops-migrate <target> [version]: runs the target's migration CodeBuild project (the version goes in as
an environment variable) and follows it to the end: duration, outcome and the log link."""

from __future__ import annotations

from shared.commands import MigrateArgs
from shared.jobs import JobEnvelope
from worker_function.operations import OperationContext, StepResult
from worker_function.operations._codebuild import BuildState, follow, outcome_line, start
from worker_function.operations._codebuild import stop as stop_build

State = BuildState
#: /ops-cancel stops the build (StopBuild).
stop = stop_build


def _what(args: MigrateArgs) -> str:
    return f"Migration of `{args.target}`" + (f" to `{args.version}`" if args.version else "")


def run(args: MigrateArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
    migration = ctx.inventory.target(args.target, "migration").migration
    assert migration is not None
    variables = {migration.version_variable: args.version} if args.version else None
    return start(ctx, job, migration.codebuild_project, _what(args), variables=variables)


def resume(args: MigrateArgs, job: JobEnvelope, ctx: OperationContext, state: BuildState) -> StepResult:
    return follow(ctx, state, _what(args), lambda build, seconds: outcome_line(_what(args), build, seconds))
