"""CDK entry point (`cdk.json`: `python3 -m infra.aws.app`): the opsbot stack with cdk-nag's AWS Solutions checks.

Lambda assets are built with pip on this machine (infra/aws/bundling.py): no Docker needed.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.aws.stack import OpsbotStack

STACK_NAME = "Opsbot"


def build_app(context: dict[str, Any] | None = None) -> tuple[App, OpsbotStack]:
    """The app and its one stack, with the AWS Solutions checks as a validation plugin.

    cdk-nag v3 runs at synth: any finding not acknowledged (with a reason) stops the synth. The
    acknowledgements are also written into the template's Metadata (`cdk_nag.rules_to_suppress`)
    as an audit trail for a security review.
    """
    app = App(context=context) if context is not None else App()
    stack = OpsbotStack(app, STACK_NAME, description="opsbot: ChatOps for Slack (ack, queue, worker)")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
