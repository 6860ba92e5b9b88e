"""The project's acknowledgments of cdk-nag's findings (AWS Solutions rules, infra/app.py).

Every acknowledgment is made next to the resource it concerns and says why (cdk-nag 3
uses CDK's own `Validations.of(construct).acknowledge`). IAM5's wildcard findings are
acknowledged one resource at a time, so a new wildcard is still reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

PLAIN_VARIABLES = (
    "The plain environment variables are non-secret settings (APP_ENV, the served alias, "
    "telemetry off, hosts); every credential comes from Secrets Manager or SSM."
)


def acknowledge(constructs: Construct | Iterable[Construct], rule: str, reason: str) -> None:
    targets = [constructs] if isinstance(constructs, Construct) else list(constructs)
    for construct in targets:
        cdk.Validations.of(construct).acknowledge(
            cdk.Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason)
        )


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
