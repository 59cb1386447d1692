"""/deploy-status <target>: the ECS service's deployments, PRIMARY first, and its CodePipeline's stages
when the inventory names a pipeline."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared import messages
from shared.commands.builtin.deploy_status import DeployStatusArgs
from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from worker_function.clients import Clients
from worker_function.operations import OperationContext
from worker_function.operations._ecs import deployment_facts, describe_service
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Operation


def _pipeline_lines(aws: Clients, pipeline: str) -> list[str]:
    """The pipeline's stages; a pipeline that cannot be read is one line saying why, not a failed job."""
    try:
        state = aws.client("codepipeline").get_pipeline_state(name=pipeline)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        why = messages.escape(messages.shorten(error.get("Message") or error.get("Code"), 500))
        return [f":warning: Pipeline `{pipeline}`: {why}"]
    return messages.pipeline_lines(pipeline, [_stage(s) for s in state.get("stageStates", [])])


def _stage(stage: dict[str, Any]) -> dict[str, Any]:
    latest = stage.get("latestExecution") or {}
    summary = ""
    for action in stage.get("actionStates", []):
        execution = action.get("latestExecution") or {}
        summary = (execution.get("errorDetails") or {}).get("message") or execution.get("summary") or summary
    return {"name": stage.get("stageName", "?"), "status": latest.get("status", "NotRun"), "summary": summary}


class DeployStatusOperation:
    """The operation of `deploy_status` (see the module's docstring)."""

    effects: tuple[type, ...] = ()
    permissions = (
        Grant(("ecs:DescribeServices",), on="ecs_service"),
        Grant(("codepipeline:GetPipelineState",), on="pipeline"),
    )

    def run(self, args: DeployStatusArgs, job: JobEnvelope, ctx: OperationContext) -> SlackMessage:
        target = ctx.inventory.target(args.target, "ecs")
        assert target.ecs is not None
        aws = ctx.aws_for(target, job)
        service = describe_service(aws, target.ecs, "read")
        now = ctx.now()
        deployments = [
            deployment_facts(d, now) for d in sorted(service["deployments"], key=lambda d: d["status"] != "PRIMARY")
        ]
        message = messages.deploy_status(args.target, target.ecs.cluster, service["status"], deployments, job.short_id)
        if target.pipeline:
            message = messages.with_lines(message, _pipeline_lines(aws, target.pipeline))
        return message


OPERATION: Operation[DeployStatusArgs] = DeployStatusOperation()
