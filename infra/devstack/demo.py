"""Demo resources for every operation on the local stack, and the inventory that names them.

ECS services `payment` and `checkout` (infra/devstack/aws.py), two EC2 instances tagged Name=bastion, a log
group per service with sample lines, a migration and a regression CodeBuild project and a pipeline on the
local CodeBuild, and a Jenkins job `web/deploy` on the local Jenkins. A second AWS account (`222222222222`,
eu-west-1) holds the ECS service of target `payment-eu`: the worker reaches it by assuming the role the
inventory names, as it would on AWS (moto gives AssumeRole's credentials the role's account).

An installed plugin adds its own demo target (its spec module's `DEMO`).
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from infra.devstack.aws import DEMO_CLUSTER, aws_client, provision_demo_ecs, sdk_session
from infra.devstack.codebuild import CodeBuildServer, PipelineStage
from infra.devstack.conversation import Channel, DemoUser
from infra.devstack.jenkins import JenkinsServer
from infra.devstack.slack_workspace import SlackChannel, Workspace
from shared.plugins import installed, spec_module

BASTION_TAG = ("Name", "bastion")
MIGRATION_PROJECT = "payment-migrate"
REGRESSION_PROJECT = "regression-smoke"
PIPELINE = "payment-pipeline"
JENKINS_JOB = "web/deploy"
#: The demo's second AWS account: the role the worker assumes there, its region, and its ECS cluster.
OTHER_ACCOUNT = "222222222222"
OTHER_REGION = "eu-west-1"
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/opsbot-target"
OTHER_CLUSTER = "opsbot-demo-eu"
#: AMI id moto knows (moto ships a list of sample AMIs).
DEMO_AMI = "ami-12c6146b"

#: The people of the demo workspace (the browser page lets you be any of them): Dana is in the approvers group.
DEMO_USERS = (
    DemoUser("U0ALEX", "alex", "developer: a prod migration needs a second person"),
    DemoUser("U0DANA", "dana", "SRE, in the approvers group @sre"),
    DemoUser("U0LOCALDEV", "local-dev", "the user `opsbot send` types as"),
)
APPROVERS_GROUP = "S0SRE"
APPROVALS_CHANNEL = "C0APPROVALS"
INCIDENT_CHANNEL = "C0INCIDENT"
#: User group id -> members, as the local Slack API's `usergroups.users.list` answers.
DEMO_USERGROUPS = {APPROVERS_GROUP: ["U0DANA"]}
#: User group id -> its handle, as a client shows `<!subteam^S0SRE>`.
DEMO_USERGROUP_HANDLES = {APPROVERS_GROUP: "sre"}
DEMO_CHANNELS = (
    Channel("C0LOCALOPS", "ops"),
    Channel(APPROVALS_CHANNEL, "approvals"),
    Channel(INCIDENT_CHANNEL, "incident"),
)
#: The private channels of the demo workspace (the bot was invited to them; everyone else is public).
DEMO_PRIVATE = {APPROVALS_CHANNEL: {"U0ALEX", "U0DANA", "U0LOCALDEV"}}


def demo_workspace() -> Workspace:
    """The demo's Slack workspace as the local Slack API models it: #ops and #incident public, #approvals
    private, the bot invited to all three; its people and the @sre group; the scopes `opsbot manifest` asks."""
    channels = [
        SlackChannel(c.id, c.name, private=c.id in DEMO_PRIVATE, members=DEMO_PRIVATE.get(c.id)) for c in DEMO_CHANNELS
    ]
    return Workspace.of(channels, users={u.id: u.name for u in DEMO_USERS}, usergroups=DEMO_USERGROUPS)


def log_group(service: str) -> str:
    return f"/opsbot-demo/{service}"


#: What `opsbot local` adds to the demo policy, before its other rules: alex's prod migrations need a second
#: person from @sre (the browser page's two-person approval). Rules are tried in order; others fall through.
SECOND_PERSON_RULE = f"""
[[policy.rules]]
name = "demo-migrate-prod-needs-a-second-person"
commands = ["/ops-migrate"]
environments = ["prod"]
users = ["U0ALEX"]
approvers = ["{APPROVERS_GROUP}"]
approval_channel = "{APPROVALS_CHANNEL}"
ask = "<!subteam^{APPROVERS_GROUP}>"
"""


def demo_inventory_toml(cluster: str = DEMO_CLUSTER, *, second_person: bool = False) -> str:
    """The demo inventory (TOML) for a cluster; `second_person` adds `SECOND_PERSON_RULE` (`opsbot local` does)."""
    approval = SECOND_PERSON_RULE if second_person else ""
    return f"""\
version = 1

[targets.payment]
environment = "prod"
description = "Payment API"
ecs = {{ cluster = "{cluster}", service = "payment", min = 1, max = 6 }}
log_groups = ["{log_group("payment")}"]
pipeline = "{PIPELINE}"
migration = {{ codebuild_project = "{MIGRATION_PROJECT}" }}

[targets.checkout]
environment = "staging"
ecs = {{ cluster = "{cluster}", service = "checkout" }}
log_groups = ["{log_group("checkout")}"]

[targets.bastion]
environment = "prod"
ec2 = {{ tag = "{BASTION_TAG[0]}", value = "{BASTION_TAG[1]}" }}

# Another AWS account and region: the worker assumes this role for the targets that name the account.
[accounts.eu]
role_arn = "{OTHER_ROLE}"
region = "{OTHER_REGION}"

[targets.payment-eu]
environment = "prod"
description = "Payment API, EU account"
account = "eu"
ecs = {{ cluster = "{OTHER_CLUSTER}", service = "payment" }}

[suites.smoke]
codebuild_project = "{REGRESSION_PROJECT}"

[jenkins_jobs.deploy-web]
job = "{JENKINS_JOB}"
environment = "staging"
parameters = {{ ENV = {{ values = ["staging", "prod"] }}, VERSION = {{ pattern = "[0-9][0-9A-Za-z.+-]*" }} }}

# Mutating commands on prod are denied unless a rule allows them. The demo lets anyone restart and migrate
# (a rule listing no users, groups or channels admits everyone); see inventory.example.toml for real ones.
[policy]
contact = "#ops-admins"
{approval}
[[policy.rules]]
name = "demo-prod-operators"
commands = ["/ops-restart", "/ops-migrate"]
environments = ["prod"]
ask = "#ops-admins"

# Anyone may run the demo's runbooks on prod (restart-safely asks a second person itself).
[[policy.rules]]
name = "demo-prod-runbooks"
commands = ["/ops-run"]
environments = ["prod"]
ask = "#ops-admins"

# Anyone may lock a target or freeze an environment (only who did lifts it early); @sre runs through a freeze
# of prod (`/ops-freeze prod incident 42`, then `/ops-restart payment` as dana), audited as an override.
[policy.override_freeze]
user_groups = ["{APPROVERS_GROUP}"]
environments = ["prod"]

[[policy.rules]]
name = "demo-prod-rollback-scale"
commands = ["/ops-rollback", "/ops-scale"]
environments = ["prod"]
ask = "#ops-admins"

# A runbook on Step Functions (runbooks/restart-safely.asl.json): `/ops-run restart-safely payment`; its last
# step asks a second person (not the one who ran it) in #approvals.
[runbooks.restart-safely]
description = "Scale up by one, restart, wait for the rollout, ask a second person, scale back"
definition = "runbooks/restart-safely.asl.json"
environment = "prod"
targets = ["payment"]
approval_channel = "{APPROVALS_CHANNEL}"
parameters = {{ reason = {{ pattern = "[A-Za-z0-9 ._-]{{1,80}}" }} }}

# A CloudWatch alarm posted to #incident with its runbook (`opsbot alarm payment-5xx ALARM`).
[alarms.payment-5xx]
target = "payment"
channel = "{INCIDENT_CHANNEL}"
runbook = ["/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment"]
"""


@dataclass(frozen=True)
class DemoTimings:
    """How long the scripted builds take (seconds of the stand-ins' clock)."""

    migration_s: float = 12.0
    regression_s: float = 8.0
    jenkins_queue_s: float = 2.0
    jenkins_build_s: float = 6.0


def provision_demo_instances(ec2: Any, count: int = 2) -> list[str]:
    """EC2 instances tagged Name=bastion (once)."""
    key, value = BASTION_TAG
    existing = [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=[{"Name": f"tag:{key}", "Values": [value]}])["Reservations"]
        for i in r["Instances"]
    ]
    if existing:
        return existing
    reservation = ec2.run_instances(
        ImageId=DEMO_AMI,
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": key, "Value": value}]}],
    )
    return [i["InstanceId"] for i in reservation["Instances"]]


def provision_demo_logs(logs: Any, services: tuple[str, ...] = ("payment", "checkout"), lines: int = 40) -> None:
    """A log group per service with `lines` sample lines over the last 10 minutes (a few ERRORs)."""
    now_ms = int(time.time() * 1000)
    rng = random.Random(7)
    for service in services:
        group = log_group(service)
        try:
            logs.create_log_group(logGroupName=group)
        except logs.exceptions.ResourceAlreadyExistsException:
            continue
        logs.create_log_stream(logGroupName=group, logStreamName="app/1")
        events = []
        for i in range(lines):
            at = now_ms - (lines - i) * 15_000
            if i % 9 == 4:
                message = f"ERROR {service}: upstream timeout after 3000 ms (order {rng.randint(1000, 9999)})"
            else:
                message = f"INFO {service}: GET /health 200 in {rng.randint(2, 40)} ms"
            events.append({"timestamp": at, "message": message})
        logs.put_log_events(logGroupName=group, logStreamName="app/1", logEvents=events)


def script_demo_builds(codebuild: CodeBuildServer, jenkins: JenkinsServer, timings: DemoTimings) -> None:
    codebuild.add_project(MIGRATION_PROJECT, duration_s=timings.migration_s)
    codebuild.add_project(
        REGRESSION_PROJECT, duration_s=timings.regression_s, tests={"SUCCEEDED": 42, "FAILED": 0, "SKIPPED": 3}
    )
    codebuild.add_pipeline(
        PIPELINE,
        [
            PipelineStage("Source", "Succeeded", "commit 4f2a9c1"),
            PipelineStage("Build", "Succeeded"),
            PipelineStage("Deploy", "InProgress", "deploying payment:2"),
        ],
    )
    jenkins.add_job(JENKINS_JOB, queue_s=timings.jenkins_queue_s, build_s=timings.jenkins_build_s)


def plugin_demos() -> list[ModuleType]:
    """The demo modules of the installed plugins (their spec module's `DEMO`): each has `provision(client)`,
    returning the inventory's TOML for what it made, and `COMMANDS`, what `opsbot local --demo` sends."""
    demos = []
    for plugin in installed():
        name = getattr(spec_module(plugin), "DEMO", None)
        if name is None:
            continue
        try:
            demos.append(importlib.import_module(str(name)))
        except Exception as exc:
            raise plugin.error(f"its demo module {name} does not import: {type(exc).__name__}: {exc}") from exc
    return demos


def plugin_demo_toml(endpoint_url: str, region: str, *, client: Callable[..., Any] = aws_client) -> str:
    """The installed plugins' demo targets, each provisioned on the local AWS first, as inventory TOML."""
    return "".join(demo.provision(lambda service: client(service, endpoint_url, region)) for demo in plugin_demos())


def plugin_demo_commands() -> tuple[str, ...]:
    """What `opsbot local --demo` sends for the installed plugins."""
    return tuple(line for demo in plugin_demos() for line in getattr(demo, "COMMANDS", ()))


def other_account_client(service: str, endpoint_url: str, region: str = OTHER_REGION) -> Any:
    """A client acting in the demo's second account, through the same AssumeRole the worker makes."""
    sts = aws_client("sts", endpoint_url, region)
    found = sts.assume_role(RoleArn=OTHER_ROLE, RoleSessionName="opsbot-demo-setup")["Credentials"]
    return sdk_session().client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=found["AccessKeyId"],
        aws_secret_access_key=found["SecretAccessKey"],
        aws_session_token=found["SessionToken"],
    )


def provision_other_account(endpoint_url: str, *, cluster: str = OTHER_CLUSTER) -> tuple[str, ...]:
    """The ECS service `payment` of target `payment-eu`, in the second account's cluster (once)."""
    return provision_demo_ecs(other_account_client("ecs", endpoint_url), cluster=cluster, services=("payment",))


def provision_demo_ops(
    endpoint_url: str,
    region: str,
    codebuild: CodeBuildServer,
    jenkins: JenkinsServer,
    *,
    timings: DemoTimings = DemoTimings(),
    client: Callable[..., Any] = aws_client,
) -> None:
    """Everything the demo inventory names, beyond the ECS services `provision` creates (and those of the
    second account)."""
    provision_demo_instances(client("ec2", endpoint_url, region))
    provision_other_account(endpoint_url)
    provision_demo_logs(client("logs", endpoint_url, region))
    script_demo_builds(codebuild, jenkins, timings)
