"""cdk-nag's AWS Solutions checks and the project's acknowledgments of its findings.

Every acknowledgment is made next to the resource it concerns and says why (cdk-nag 3
uses CDK's own `Validations.of(construct).acknowledge`). Rules with several findings per
resource (IAM5's wildcards) are acknowledged one finding at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

PLAIN_VARIABLES = (
    "The plain environment variables are non-secret settings (APP_ENV, the served alias, "
    "telemetry off, hosts); every credential comes from Secrets Manager or SSM."
)


def add_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(constructs: Construct | Iterable[Construct], rule: str, reason: str) -> None:
    targets = [constructs] if isinstance(constructs, Construct) else list(constructs)
    for construct in targets:
        cdk.Validations.of(construct).acknowledge(
            cdk.Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason)
        )
