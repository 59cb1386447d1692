"""/ops-restart <target>: ECS force new deployment followed until its rollout is COMPLETED or FAILED, or an
EC2 reboot followed until the instances' status checks pass. Runs under the target's lease (see stages/lease.py),
kept from step to step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from shared import blockkit
from shared.commands.builtin.restart import RestartArgs
from shared.inventory_entries import Ec2Instances, EcsService
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.effects import UNKNOWABLE, Unknowable
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext, Preview, StepResult, StepState, Wait
from worker_function.operations._ecs import counts, describe_service, follow_deployment, rollout_state
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.store.intents import Intent
from worker_function.tracking import Stopped


class ServiceState(StepState):
    """The ECS deployment a restart follows."""

    kind: Literal["ecs"] = "ecs"
    cluster: str
    service: str
    deployment: str


class InstancesState(StepState):
    """The EC2 instances a reboot follows; `uncertain`: EC2 could not tell whether an earlier attempt's reboot
    was sent."""

    kind: Literal["ec2"] = "ec2"
    instances: list[str] = Field(min_length=1)
    uncertain: bool = False


State = Annotated[ServiceState | InstancesState, Field(discriminator="kind")]


#: Told when a retry cannot know whether an earlier attempt's RebootInstances reached EC2.
UNCERTAIN_REBOOT = (
    "_The worker stopped while asking EC2 to reboot; EC2 could not tell whether the reboot was sent, so it was"
    " not sent twice. Run the command again if the instances did not restart._"
)


# -- ECS ---------------------------------------------------------------------------------------


def _restart_service(name: str, ecs: EcsService, job: JobEnvelope, ctx: OperationContext, aws: Clients) -> StepResult:
    service = describe_service(aws, ecs, "restart")
    if service.get("status") != "ACTIVE":
        raise PermanentJobError(f"the ECS service `{ecs.service}` is {service.get('status')}, not ACTIVE")
    current = next((d["id"] for d in service.get("deployments", []) if d["status"] == "PRIMARY"), "")
    intent = ctx.intent(job, "ecs-force-new-deployment", f"restart {ecs.service}", deployment=current)
    primary = ctx.effect(ForceNewDeployment(aws, ecs, intent))
    headline = (
        f"Restart of `{name}` started (cluster `{ecs.cluster}`): new deployment `{primary['id']}`, {counts(primary)}."
    )
    state = ServiceState(cluster=ecs.cluster, service=ecs.service, deployment=primary["id"], summary=counts(primary))
    return Wait(progress=job_messages.progress(headline), state=state, delay_s=ctx.poll_delay())


@dataclass(frozen=True)
class ForceNewDeployment:
    """UpdateService --force-new-deployment (no client token): made is a PRIMARY deployment that was not
    PRIMARY when the intent was written (the target's lease keeps other opsbot jobs off the service). `aws`: the
    target's clients, for the call and its reconciliation alike."""

    aws: Clients
    ecs: EcsService
    intent: Intent

    def call(self, intent: Intent) -> dict[str, Any]:
        with classify_aws_errors(f"cannot restart `{self.ecs.service}` in cluster `{self.ecs.cluster}`"):
            updated = self.aws.once("ecs").update_service(
                cluster=self.ecs.cluster, service=self.ecs.service, forceNewDeployment=True
            )
        return dict(next(d for d in updated["service"]["deployments"] if d["status"] == "PRIMARY"))

    def reconcile(self, intent: Intent) -> dict[str, Any] | None:
        service = describe_service(self.aws, self.ecs, "follow the restart of")
        primary = next((d for d in service.get("deployments", []) if d["status"] == "PRIMARY"), None)
        return dict(primary) if primary and primary["id"] != intent.before.get("deployment") else None

    def assumed(self, intent: Intent) -> dict[str, Any]:
        raise AssertionError("ECS shows its deployments: never unknowable")


def _follow_service(name: str, state: ServiceState, ctx: OperationContext, aws: Clients) -> StepResult:
    ecs = EcsService(cluster=state.cluster, service=state.service)
    return follow_deployment(ctx, aws, ecs, state.deployment, f"Restart of `{name}`", state)


# -- EC2 ---------------------------------------------------------------------------------------


def instances_of(aws: Clients, ec2: Ec2Instances, what: str) -> list[str]:
    """The ids of the instances tagged `tag=value` that are not terminated (`aws`: the target's clients)."""
    with classify_aws_errors(f"cannot {what} instances tagged {ec2.tag}={ec2.value}"):
        reservations = aws.client("ec2").describe_instances(
            Filters=[
                {"Name": f"tag:{ec2.tag}", "Values": [ec2.value]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )["Reservations"]
    ids = sorted(i["InstanceId"] for r in reservations for i in r["Instances"])
    if not ids:
        raise PermanentJobError(f"no EC2 instances are tagged {ec2.tag}={ec2.value}")
    return ids


def _reboot_instances(
    name: str, ec2: Ec2Instances, job: JobEnvelope, ctx: OperationContext, aws: Clients
) -> StepResult:
    ids = instances_of(aws, ec2, "reboot")
    intent = ctx.intent(job, "ec2-reboot", f"reboot {' '.join(ids)}", instances=",".join(ids))
    certain = ctx.effect(Reboot(aws, ids, intent))
    plural = "s" if len(ids) != 1 else ""
    headline = f"Reboot of `{name}` requested: {len(ids)} instance{plural} ({', '.join(ids)})."
    if not certain:
        headline += " (The worker stopped while asking EC2 to reboot them, and EC2 cannot tell whether it did.)"
    state = InstancesState(instances=ids, uncertain=not certain, summary="reboot requested")
    return Wait(progress=job_messages.progress(headline), state=state, delay_s=ctx.poll_delay())


@dataclass(frozen=True)
class Reboot:
    """RebootInstances takes no client token and leaves no trace an API shows (the state stays `running`):
    a retry that finds the intent cannot ask EC2, so it does not reboot again (at most once after the intent;
    the intent is removed when the call certainly did not reach EC2)."""

    aws: Clients
    ids: list[str]
    intent: Intent

    def call(self, intent: Intent) -> bool:
        with classify_aws_errors(f"cannot reboot {', '.join(self.ids)}"):
            self.aws.once("ec2").reboot_instances(InstanceIds=self.ids)
        return True

    def reconcile(self, intent: Intent) -> Unknowable:
        return UNKNOWABLE

    def assumed(self, intent: Intent) -> bool:
        return False


def instance_health(aws: Clients, ids: list[str]) -> list[dict[str, str]]:
    """Per instance: id, state, instance and system status checks."""
    with classify_aws_errors(f"cannot read the status of {', '.join(ids)}"):
        statuses = aws.client("ec2").describe_instance_status(InstanceIds=ids, IncludeAllInstances=True)
    found = {s["InstanceId"]: s for s in statuses.get("InstanceStatuses", [])}
    return [
        {
            "id": i,
            "state": found.get(i, {}).get("InstanceState", {}).get("Name", "unknown"),
            "instance": found.get(i, {}).get("InstanceStatus", {}).get("Status", "unknown"),
            "system": found.get(i, {}).get("SystemStatus", {}).get("Status", "unknown"),
        }
        for i in ids
    ]


def health_lines(health: list[dict[str, str]]) -> list[str]:
    icon = {True: ":white_check_mark:", False: ":hourglass_flowing_sand:"}
    return [
        f"{icon[h['state'] == 'running' and h['instance'] == 'ok' and h['system'] == 'ok']} `{h['id']}` "
        f"{h['state']}, instance check {h['instance']}, system check {h['system']}"
        for h in health
    ]


def _follow_instances(name: str, state: InstancesState, ctx: OperationContext, aws: Clients) -> StepResult:
    health = instance_health(aws, state.instances)
    lines = health_lines(health)
    gone = [h["id"] for h in health if h["state"] in ("stopped", "stopping", "terminated", "shutting-down")]
    if gone:
        return job_messages.outcome(
            False, f"Reboot of `{name}` FAILED: {', '.join(gone)} stopped.", lines, in_channel=True
        )
    if all(h["state"] == "running" and h["instance"] == "ok" and h["system"] == "ok" for h in health):
        if state.uncertain:  # nothing shows a reboot was made: not told completed
            return job_messages.outcome(
                None,
                f"Reboot of `{name}` not confirmed: status checks pass, but EC2 could not tell whether the reboot"
                " was sent.",
                [*lines, UNCERTAIN_REBOOT],
                in_channel=True,
            )
        return job_messages.outcome(True, f"Reboot of `{name}` completed: status checks pass.", lines, in_channel=True)
    waiting = sum(1 for h in health if not (h["instance"] == "ok" and h["system"] == "ok"))
    summary = f"{waiting} of {len(health)} instances still failing or initialising status checks"
    return Wait(
        progress=job_messages.progress(f"Reboot of `{name}`: {summary}.", lines),
        state=state.changed(summary=summary),
        delay_s=ctx.poll_delay(),
    )


class RestartOperation:
    """The operation of `restart` (see the module's docstring)."""

    state = State
    effects = (ForceNewDeployment, Reboot)
    permissions = (
        Grant(("ecs:DescribeServices", "ecs:UpdateService"), on="ecs_service"),
        Grant(("ec2:RebootInstances",), on="ec2_instances"),
        Grant(("ec2:DescribeInstanceStatus", "ec2:DescribeInstances"), on="ec2_instances", unscoped=True),
    )

    def stop(
        self, args: RestartArgs, job: JobEnvelope, ctx: OperationContext, state: ServiceState | InstancesState
    ) -> Stopped:
        """/ops-cancel: opsbot stops following; an ECS deployment (or a reboot) is left to finish."""
        if isinstance(state, ServiceState):
            return Stopped(
                lines=["the ECS deployment is left to finish (ECS has no stop for it); opsbot stops following"]
            )
        return Stopped(lines=["the reboot cannot be undone; opsbot stops following the status checks"])

    def run(self, args: RestartArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        target = ctx.inventory.target(args.target, "restartable")
        aws = ctx.aws_for(target, job)
        if target.ecs is not None:
            return _restart_service(args.target, target.ecs, job, ctx, aws)
        assert target.ec2 is not None
        return _reboot_instances(args.target, target.ec2, job, ctx, aws)

    def resume(self, args: RestartArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> StepResult:
        aws = ctx.aws_for(ctx.inventory.target(args.target, "restartable"), job)
        if isinstance(state, ServiceState):
            return _follow_service(args.target, state, ctx, aws)
        return _follow_instances(args.target, state, ctx, aws)

    def preview(self, args: RestartArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """What a restart would do, from read-only calls: the service's deployments, or the instances' health."""
        target = ctx.inventory.target(args.target, "restartable")
        aws = ctx.aws_for(target, job)
        if target.ecs is not None:
            ecs = target.ecs
            service = describe_service(aws, ecs, "read")
            primary = next((d for d in service.get("deployments", []) if d["status"] == "PRIMARY"), None)
            now = [
                f"Service `{blockkit.escape(ecs.service)}` (cluster `{blockkit.escape(ecs.cluster)}`) "
                f"{blockkit.escape(service.get('status'))}: {service.get('runningCount', 0)}/"
                f"{service.get('desiredCount', 0)} tasks running"
            ]
            if primary is not None:
                definition = blockkit.escape(str(primary.get("taskDefinition", "?")).rsplit("/", 1)[-1])
                now.append(
                    f"Deployment `{blockkit.escape(primary['id'])}` {rollout_state(primary).lower()}: "
                    f"{counts(primary)}, task definition `{definition}`"
                )
            change = (
                f"force a new deployment of `{blockkit.escape(ecs.service)}` (ECS UpdateService "
                f"forceNewDeployment): its tasks are replaced with the same task definition, then followed until "
                "the rollout completes"
            )
            return Preview(now=now, change=change)
        assert target.ec2 is not None
        ids = instances_of(aws, target.ec2, "read")
        plural = "s" if len(ids) != 1 else ""
        change = f"reboot {len(ids)} instance{plural} ({', '.join(ids)}), then wait until their status checks pass"
        return Preview(now=health_lines(instance_health(aws, ids)), change=change)


OPERATION: Resumable[RestartArgs, Any] = RestartOperation()
