"""The CDK app: the shared stack and one stack per environment of config/aws_config.yaml.

Stacks (names from pyproject.toml's project name):
- `<project>-shared`: what the account holds once: the data bucket, the Glue database, the
  Athena workgroup, the ECR repositories{% if cookiecutter.ci_provider == "github" %} and the GitHub OIDC provider with the
  CI and deploy roles{% endif %}; the same definitions as `make init-aws`
  (src/data/aws_resources.py);
- `<project>-<environment>` (staging, production): network, ECS cluster, the API behind a
  public load balancer, the MLflow server with its Postgres, the jobs task definition,
  secrets, parameters, log group and the alarms that roll a bad deployment back.

Every stack is checked by cdk-nag's AWS Solutions rules while it is synthesized.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import cx_api

from infra.environment_stack import EnvironmentStack
from infra.nag import add_checks
from infra.shared_stack import SharedStack
from src.release.manifest import read_version
from src.settings import PROJECT_ROOT, Settings, get_settings

# Context value (`cdk deploy -c api_desired_count=0`): the first deployment of an empty
# account starts the API with no task, since it cannot be ready before a model is trained.
DESIRED_COUNT_CONTEXT = "api_desired_count"
OUTDIR = "cdk.out"
# CDK feature flags the stacks rely on, set here so the tests' synthesis and the CLI's agree.
FEATURE_FLAGS = {
    # Server access logs are delivered by bucket policy, not the legacy log-delivery ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}
VALIDATION_REPORT = "validation-report.json"


def read_project_name(root: Path = PROJECT_ROOT) -> str:
    return read_version(root / "pyproject.toml")[0]


def stack_name(project: str, environment: str) -> str:
    return f"{project}-{environment}"


def build_app(
    settings: Settings | None = None,
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
) -> cdk.App:
    settings = settings or get_settings()
    # The CDK CLI names the output folder itself (CDK_OUTDIR); run alone, cdk.out/.
    outdir = outdir or os.environ.get("CDK_OUTDIR") or str(PROJECT_ROOT / OUTDIR)
    app = cdk.App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    project = read_project_name()
    # Env-agnostic unless an account is known: offline synthesis needs none.
    account = settings.aws.account_id or os.environ.get("CDK_DEFAULT_ACCOUNT")
    env = cdk.Environment(account=account or None, region=settings.aws.region)
    shared = SharedStack(
        app, stack_name(project, "shared"), project=project, settings=settings, env=env
    )
    desired_count = app.node.try_get_context(DESIRED_COUNT_CONTEXT)
    for name, deployment in settings.aws.environments.items():
        if desired_count is not None:
            deployment = deployment.model_copy(
                update={
                    "api": deployment.api.model_copy(update={"desired_count": int(desired_count)})
                }
            )
        stack = EnvironmentStack(
            app,
            stack_name(project, name),
            project=project,
            environment=name,
            deployment=deployment,
            settings=settings,
            env=env,
        )
        # `cdk deploy <project>-staging` deploys the shared stack first when it changed.
        stack.add_stack_dependency(shared)
    cdk.Tags.of(app).add("project", project)
    add_checks(app)
    return app


def synthesize(app: cdk.App) -> tuple[cx_api.CloudAssembly | None, list[str]]:
    """Write cdk.out; return the assembly, or None and every finding cdk-nag reported."""
    try:
        return app.synth(), []
    except RuntimeError as error:
        report = Path(app.outdir) / VALIDATION_REPORT
        if "ValidationFailed" not in str(error) or not report.exists():
            raise
        return None, read_violations(report)


def read_violations(report: Path) -> list[str]:
    """`<rule> <construct path>: <description>` per violation of CDK's validation report."""
    content = json.loads(report.read_text())
    return [
        f"{violation['ruleName']} {construct['constructPath']}: {violation.get('description', '')}"
        for plugin in content.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]
