"""The work of the time-to-answer benchmark's commands, written as a Bolt user would: boto3 clients made at init,
the target's names from the same inventory file opsbot reads (JSON as opsbot's assets ship it; stdlib), plain text
answers.

- `/ops-status <target>`: ECS DescribeServices: running/desired/pending and the last 3 service events;
- `/deploy-status <target>`: DescribeServices' deployments and the pipeline's stages (CodePipeline GetPipelineState);
- `/ops-lock <target> <reason>` and `/ops-unlock <target>`: a conditional PutItem / DeleteItem of a lock item in
  the leases table (its own key, so it never meets opsbot's own lock of the same target).

The same calls opsbot's operations make (worker_function/operations/status.py, deploy_status.py, lock.py,
unlock.py) without what opsbot adds around them: exactly-once bookkeeping (Powertools idempotency, leases),
audit, policy, progress.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from typing import Any

import boto3

with open(os.environ["OPSBOT_INVENTORY"], "rb") as _handle:  # JSON as opsbot's assets ship it, or TOML
    TARGETS: dict[str, Any] = (
        json.load(_handle) if os.environ["OPSBOT_INVENTORY"].endswith(".json") else tomllib.load(_handle)
    )["targets"]

_ecs = boto3.client("ecs")
_dynamodb = boto3.client("dynamodb")
_codepipeline = boto3.client("codepipeline")
_TABLE = os.environ["OPSBOT_LEASES_TABLE"]


def status(target: str) -> str:
    ecs = TARGETS[target]["ecs"]
    service = _ecs.describe_services(cluster=ecs["cluster"], services=[ecs["service"]])["services"][0]
    lines = [
        f"{target}: {service['runningCount']}/{service['desiredCount']} tasks running, "
        f"{service['pendingCount']} pending, service {service['status']}"
    ]
    lines += [f"- {e['createdAt']:%H:%M:%S}: {e['message'][:300]}" for e in service.get("events", [])[:3]]
    return "\n".join(lines)


def deploy_status(target: str) -> str:
    spec = TARGETS[target]
    ecs = spec["ecs"]
    service = _ecs.describe_services(cluster=ecs["cluster"], services=[ecs["service"]])["services"][0]
    lines = [f"{target} ({ecs['cluster']}): service {service['status']}"]
    for d in sorted(service["deployments"], key=lambda d: d["status"] != "PRIMARY"):
        lines.append(
            f"- {d['status']} {d['taskDefinition'].rsplit('/', 1)[-1]}: {d['runningCount']}/{d['desiredCount']}"
        )
    if spec.get("pipeline"):
        state = _codepipeline.get_pipeline_state(name=spec["pipeline"])
        for stage in state.get("stageStates", []):
            lines.append(f"- {stage['stageName']}: {(stage.get('latestExecution') or {}).get('status', 'NotRun')}")
    return "\n".join(lines)


def lock(target: str, user: str, reason: str) -> str:
    try:
        _dynamodb.put_item(
            TableName=_TABLE,
            Item={
                "target": {"S": f"bench-lock#{target}"},
                "by": {"S": user},
                "reason": {"S": reason},
                "at": {"N": str(int(time.time()))},
            },
            ConditionExpression="attribute_not_exists(target)",
        )
    except _dynamodb.exceptions.ConditionalCheckFailedException:
        return f"{target} is already locked"
    return f"{target} locked by {user}: {reason}"


def unlock(target: str) -> str:
    _dynamodb.delete_item(TableName=_TABLE, Key={"target": {"S": f"bench-lock#{target}"}})
    return f"{target} unlocked"


def run(command: str, text: str, user: str) -> str:
    """The answer to one command (a slash command's name and text)."""
    words = text.split()
    if command == "/ops-status":
        return status(words[0])
    if command == "/deploy-status":
        return deploy_status(words[0])
    if command == "/ops-lock":
        return lock(words[0], user, " ".join(words[1:]))
    if command == "/ops-unlock":
        return unlock(words[0])
    return f"unknown command {command}"
