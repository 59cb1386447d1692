"""CDK entry point (`cdk.json`: `python3 -m infra.aws.app`): the opsbot stack with cdk-nag's AWS Solutions checks.

Lambda assets are built with pip on this machine (infra/aws/bundling.py): no Docker needed. The
inventory is context: `cdk deploy -c inventory=inventory.toml` (infra/aws/config.py).
"""

from __future__ import annotations

import sys
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.aws.config import ConfigError
from infra.aws.quotas import MANAGED_POLICIES_CONTEXT, QuotaCheck, managed_policies_per_role
from infra.aws.stack import OpsbotStack
from infra.aws.target_account import TargetAccountStack, stack_name_for, worker_role_arn
from shared.inventory import InventoryError

STACK_NAME = "Opsbot"


def build_app(context: dict[str, Any] | None = None) -> tuple[App, OpsbotStack]:
    """The app and its stack, with the AWS Solutions checks as a validation plugin; a small stack per role the
    inventory names in another account (`stack.target_accounts`, infra/aws/target_account.py).

    cdk-nag v3 runs at synth: any finding not acknowledged (with a reason) stops the synth. The
    acknowledgements are also written into the template's Metadata (`cdk_nag.rules_to_suppress`)
    as an audit trail for a security review. The quota check fails the synth the same way, naming the document
    over its quota, its size and the quota.
    """
    app = App(context=context) if context is not None else App()
    stack = OpsbotStack(app, STACK_NAME, description="opsbot: ChatOps for Slack (ack, queue, worker)")
    config = stack.config
    for role_arn in config.inventory.role_arns():
        assert config.worker_account is not None  # DeployConfig requires it when roles are named
        stack.target_accounts.append(
            TargetAccountStack(
                app,
                stack_name_for(role_arn),
                inventory=config.inventory,
                role_arn=role_arn,
                trusted_role_arn=worker_role_arn(role_arn, config.worker_account),
                description=f"opsbot: the role its worker assumes in this account ({role_arn})",
            )
        )
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True),
        # IAM's and CloudFormation's quotas, which nothing else checks before a deploy (infra/aws/quotas.py).
        QuotaCheck(
            managed_policies_per_role=managed_policies_per_role(app.node.try_get_context(MANAGED_POLICIES_CONTEXT))
        ),
    )
    return app, stack


def main() -> None:
    """`cdk synth`: a missing or invalid inventory (or other context) ends it with one line saying why."""
    try:
        app, _ = build_app()
    except (ConfigError, InventoryError) as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    app.synth()


if __name__ == "__main__":
    main()
