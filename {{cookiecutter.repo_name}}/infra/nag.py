"""Acknowledgments of cdk-nag's findings (AWS Solutions rules, checked by infra/app.py), each
next to its resource with its reason; IAM5's wildcards one resource at a time, so a new
wildcard is still reported."""

from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

PLAIN_VARIABLES = (
    "The plain environment variables are non-secret settings (APP_ENV, the served alias, "
    "telemetry off, hosts); every credential comes from Secrets Manager or SSM."
)


def acknowledge(construct: Construct, rule: str, reason: str) -> None:
    acknowledgment = cdk.Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason)
    cdk.Validations.of(construct).acknowledge(acknowledgment)


def nag_name(value: Any) -> str:
    """A resolved template value as cdk-nag names it: `arn:<AWS::Partition>:s3:::b/*`."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(nag_name(part) for part in parts)
    if "Ref" in value:
        return f"<{value['Ref']}>"
    return "<{}>".format(".".join(value["Fn::GetAtt"]))


def acknowledge_wildcards(
    construct: Construct, statements: Iterable[iam.PolicyStatement], reason: str
) -> None:
    """Acknowledge IAM5 for each wildcard resource of these statements, with one reason."""
    stack = cdk.Stack.of(construct)
    names = {
        nag_name(stack.resolve(resource))
        for statement in statements
        for resource in statement.resources
    }
    for name in sorted(names):
        if "*" in name:
            acknowledge(construct, f"IAM5[Resource::{name}]", reason)
