"""/deploy-status <target>: the ECS service's deployments, PRIMARY first, and its CodePipeline's stages
when the inventory names a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from shared.blockkit import (
    SlackMessage,
    context_block,
    echo,
    escape,
    fallback_text,
    section_block,
    section_blocks,
    shorten,
    with_lines,
)
from shared.commands.builtin.deploy_status import DeployStatusArgs
from shared.jobs import JobEnvelope
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
        why = escape(shorten(error.get("Message") or error.get("Code"), 500))
        return [f":warning: Pipeline `{pipeline}`: {why}"]
    return pipeline_lines(pipeline, [_stage(s) for s in state.get("stageStates", [])])


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
        message = deploy_status(args.target, target.ecs.cluster, service["status"], deployments, job.short_id)
        if target.pipeline:
            message = with_lines(message, _pipeline_lines(aws, target.pipeline))
        return message


OPERATION: Operation[DeployStatusArgs] = DeployStatusOperation()


def deploy_status(
    service: str, cluster: str, service_status: str, deployments: Sequence[dict[str, Any]], short_id: str
) -> SlackMessage:
    """One line per ECS deployment, PRIMARY first. Each dict: status, rollout_state, running, desired,
    pending, failed, task_definition, age (ECS's words, escaped)."""
    icons = {"COMPLETED": ":white_check_mark:", "IN_PROGRESS": ":arrows_counterclockwise:", "FAILED": ":x:"}
    header = f"*Deploy status of {echo(service)}* (cluster {echo(cluster)}, service {escape(service_status)})"
    lines = []
    for d in deployments:
        icon = icons.get(d["rollout_state"], ":grey_question:")
        failed = f", {d['failed']} failed" if d["failed"] else ""
        lines.append(
            f"{icon} *{escape(d['status'])}* {escape(str(d['rollout_state']).lower().replace('_', ' '))}: "
            f"{d['running']}/{d['desired']} running, {d['pending']} pending{failed}; "
            f"{echo(d['task_definition'], 200)}, started {escape(d['age'])} ago"
        )
    body = section_blocks(lines or ["_No deployments._"], max_sections=5, what="deployments")
    return SlackMessage(
        text=fallback_text(header, *lines), blocks=[section_block(header), *body, context_block(f"job `{short_id}`")]
    )


def pipeline_lines(pipeline: str, stages: Sequence[dict[str, Any]]) -> list[str]:
    """One line per CodePipeline stage. Each dict: name, status, summary (CodePipeline's words, escaped)."""
    icons = {
        "Succeeded": ":white_check_mark:",
        "InProgress": ":arrows_counterclockwise:",
        "Failed": ":x:",
        "Stopped": ":black_square_for_stop:",
        "Cancelled": ":black_square_for_stop:",
    }
    lines = [f"*Pipeline {echo(pipeline)}*"]
    for stage in stages:
        icon = icons.get(stage["status"], ":white_circle:")
        summary = f": {escape(shorten(stage['summary'], 300))}" if stage.get("summary") else ""
        lines.append(f"{icon} {escape(shorten(stage['name'], 100))} {escape(str(stage['status']).lower())}{summary}")
    return lines
