"""cdk-nag (v3) acknowledgements: CDK's native `Validations.of(scope).acknowledge(...)`, always with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on `scope`'s CloudFormation resource (its default child), and only there.

    `rule_id` is the rule (`AwsSolutions-SMG4`) or one finding of a rule that reports several
    (`AwsSolutions-IAM5[Resource::arn:...]`): cdk-nag v3 matches findings one by one.
    """
    if not reason.strip():
        raise ValueError(f"acknowledging {rule_id} needs a reason")
    target = scope.node.default_child or scope
    Validations.of(target).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_warning(scope: IConstruct, warning_id: str, reason: str) -> None:
    """Acknowledge a CDK construct warning (an annotation such as `@aws-cdk/aws-lambda:...`) on `scope`."""
    if not reason.strip():
        raise ValueError(f"acknowledging {warning_id} needs a reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"Annotation::{warning_id}", reason=reason))
