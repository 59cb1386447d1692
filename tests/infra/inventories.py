"""Generated inventories of the size a real company has, for the quota tests and the figures in docs/deploying.md.

    .venv/bin/python -m tests.infra.inventories payment 30 > /tmp/inventory.toml
    .venv/bin/python -m tests.infra.inventories mixed 200 > /tmp/inventory.toml

`payment` repeats the example's `payment` target (an ECS service with a log group, a pipeline and a migration
project); `mixed` spreads the targets over every kind the inventory has: ECS services with one or two log groups,
pipelines and migrations, EC2 groups under three tag keys, targets in two other regions and four other accounts,
plus CodeBuild suites, Jenkins jobs and alarms posted to channels (by name and by prefix).
Names are as long as real ones (`team-07-orders-api`).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ACCOUNT_ROLES = tuple(f"arn:aws:iam::{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}:role/opsbot-target" for n in range(2, 6))
WORKER_ACCOUNT = "111111111111"
_TEAMS = ("orders", "payments", "search", "identity", "catalog", "shipping", "billing", "notify")
_CLUSTERS = ("prod-core-cluster", "prod-edge-cluster", "staging-core-cluster")


def payment_like(count: int) -> str:
    """`count` targets shaped like the example's `payment`."""
    lines = ["version = 1", ""]
    for i in range(count):
        name = f"payment-{i:03d}"
        lines += [
            f"[targets.{name}]",
            'environment = "prod"',
            f'ecs = {{ cluster = "example-cluster", service = "{name}-api" }}',
            f'log_groups = ["/ecs/example/{name}-api"]',
            f'pipeline = "{name}-api-pipeline"',
            f'migration = {{ codebuild_project = "{name}-api-migrate" }}',
            "",
        ]
    return "\n".join(lines)


def mixed(count: int, *, suites: int = 20, jenkins_jobs: int = 20) -> str:
    """`count` targets of every kind (about 55% ECS, 20% EC2, 20% in other accounts, 5% in other regions)."""
    lines = ["version = 1", ""]
    for n, role in enumerate(ACCOUNT_ROLES):
        lines += [f"[accounts.acct-{n}]", f'role_arn = "{role}"', f'region = "{("eu-west-1", "us-west-2")[n % 2]}"', ""]
    for i in range(count):
        team = _TEAMS[i % len(_TEAMS)]
        name = f"team-{i:03d}-{team}"
        kind = i % 20
        lines += [f"[targets.{name}]", f'environment = "{("prod", "staging")[i % 2]}"']
        if kind < 11:  # an ECS service in this account
            cluster = _CLUSTERS[i % len(_CLUSTERS)]
            lines.append(f'ecs = {{ cluster = "{cluster}", service = "{name}-api" }}')
            groups = [f"/ecs/{cluster}/{name}-api"] + ([f"/ecs/{cluster}/{name}-worker"] if i % 3 == 0 else [])
            lines.append("log_groups = [" + ", ".join(f'"{g}"' for g in groups) + "]")
            if i % 2 == 0:
                lines.append(f'pipeline = "{name}-api-pipeline"')
            if i % 4 == 0:
                lines.append(f'migration = {{ codebuild_project = "{name}-migrate" }}')
        elif kind < 15:  # EC2 instances by tag
            tag = ("Name", "Role", "opsbot-group")[i % 3]
            lines.append(f'ec2 = {{ tag = "{tag}", value = "{name}-hosts" }}')
            lines.append(f'log_groups = ["/ec2/{name}/syslog"]')
        elif kind < 19:  # another account (its role and region)
            lines.append(f'account = "acct-{i % len(ACCOUNT_ROLES)}"')
            lines.append(f'ecs = {{ cluster = "{_CLUSTERS[i % 2]}", service = "{name}-api" }}')
            lines.append(f'log_groups = ["/ecs/{name}-api"]')
            if i % 2 == 0:
                lines.append(f'pipeline = "{name}-api-pipeline"')
        else:  # this account, another region
            lines.append('region = "ap-southeast-2"')
            lines.append(f'ecs = {{ cluster = "apac-cluster", service = "{name}-api" }}')
            lines.append(f'log_groups = ["/ecs/apac/{name}-api"]')
        lines.append("")
    for i in range(0, count, 2):  # alarms posted to channels: half the targets by exact name, and a prefix per team
        if i % 20 < 11:
            lines += [
                f'[alarms."team-{i:03d}-{_TEAMS[i % len(_TEAMS)]}-5xx"]',
                f'target = "team-{i:03d}-{_TEAMS[i % len(_TEAMS)]}"',
                'channel = "C0INCIDENTS"',
                "",
            ]
    for n, team in enumerate(_TEAMS):
        lines += [f'[alarms."{team}-"]', "prefix = true", f'target = "team-{n:03d}-{team}"', 'channel = "C0ALERTS"', ""]
    for i in range(suites):
        lines += [f"[suites.suite-{i:02d}]", f'codebuild_project = "regression-{_TEAMS[i % len(_TEAMS)]}-{i:02d}"', ""]
    for i in range(jenkins_jobs):
        lines += [f'[jenkins_jobs."job-{i:02d}"]', f'job = "teams/{_TEAMS[i % len(_TEAMS)]}/deploy-{i:02d}"', ""]
    return "\n".join(lines)


def synthesized_figures(inventory_toml: str, workdir: Path) -> list[Any]:
    """Every quota figure of every stack `cdk synth` makes from this inventory (bundling skipped, which changes
    asset hashes only), measured in the written templates by infra/aws/quotas.py."""
    from infra.aws.app import build_app
    from infra.aws.quotas import measure, stack_name_of
    from tests.infra.conftest import CDK_JSON_CONTEXT, JENKINS_URL, SKIP_BUNDLING

    path = workdir / "inventory.toml"
    path.write_text(inventory_toml)
    context = {
        **CDK_JSON_CONTEXT,
        **SKIP_BUNDLING,
        "inventory": str(path),
        "jenkinsUrl": JENKINS_URL,
        "workerAccount": WORKER_ACCOUNT,
    }
    app, _ = build_app({**context, "aws:cdk:outdir": str(workdir / "cdk.out")})
    assembly = app.synth()
    figures: list[Any] = []
    for stack in assembly.stacks:
        template_path = str(Path(assembly.directory) / stack.template_file)
        figures += measure(json.loads(Path(template_path).read_text()), stack_name_of(template_path))
    return figures


def main(argv: list[str]) -> int:
    """`KIND COUNT`: print the inventory; `KIND COUNT --figures`: synthesize it and print every quota figure."""
    kind, count = argv[0], int(argv[1])
    text = {"payment": payment_like, "mixed": mixed}[kind](count)
    if "--figures" not in argv:
        print(text)
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        for figure in synthesized_figures(text, Path(workdir)):
            print(("OVER " if figure.over else "     ") + str(figure))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
