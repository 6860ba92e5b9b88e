"""The CDK app: `<project>-shared` (infra/shared_stack.py) and `<project>-<environment>` for
each environment of infra/environments.py (infra/environment_stack.py), every stack checked
by cdk-nag's AWS Solutions rules while it is synthesized."""

import os
import sys
from collections.abc import Mapping
from dataclasses import replace

import aws_cdk as cdk
from aws_cdk import cx_api
from cdk_nag import AwsSolutionsChecks

from infra.access import describe_bootstrap
from infra.environment_stack import EnvironmentStack
from infra.environments import ENVIRONMENTS, Environment, bootstrap_qualifier
from infra.shared_stack import SharedStack
from src.errors import ConfigError
from src.names import REPO_NAME
from src.settings import PROJECT_ROOT, Settings, get_settings

# `cdk deploy -c api_desired_count=0`: the first deployment of an empty account starts the
# API with no task, since it cannot be ready before a model is trained.
DESIRED_COUNT_CONTEXT = "api_desired_count"
# Server access logs are delivered by bucket policy, not the legacy log-delivery ACL.
FEATURE_FLAGS = {"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True}


def build_app(
    settings: Settings | None = None,
    environments: Mapping[str, Environment] = ENVIRONMENTS,
    outdir: str | None = None,
) -> cdk.App:
    settings = settings or get_settings()
    # The CDK CLI names the output folder itself (CDK_OUTDIR); run alone, cdk.out/.
    outdir = outdir or os.environ.get("CDK_OUTDIR") or str(PROJECT_ROOT / "cdk.out")
    app = cdk.App(context=FEATURE_FLAGS, outdir=outdir)
    # Env-agnostic unless an account is known: offline synthesis needs none.
    account = settings.aws.account_id or os.environ.get("CDK_DEFAULT_ACCOUNT") or None
    env = cdk.Environment(account=account, region=settings.aws.region)

    def synthesizer(environment: str) -> cdk.IStackSynthesizer:
        return cdk.DefaultStackSynthesizer(qualifier=bootstrap_qualifier(REPO_NAME, environment))

    shared = SharedStack(
        app, f"{REPO_NAME}-shared", project=REPO_NAME, settings=settings,
        environments=sorted(environments), env=env, synthesizer=synthesizer("shared"),
    )  # fmt: skip
    desired_count = app.node.try_get_context(DESIRED_COUNT_CONTEXT)
    for name, sizing in environments.items():
        if desired_count is not None:
            sizing = replace(sizing, api_desired_count=int(desired_count))
        stack = EnvironmentStack(
            app, f"{REPO_NAME}-{name}", project=REPO_NAME, environment=name, sizing=sizing,
            settings=settings, env=env, synthesizer=synthesizer(name),
        )  # fmt: skip
        stack.add_stack_dependency(shared)
    cdk.Tags.of(app).add("project", REPO_NAME)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def synthesize(app: cdk.App) -> cx_api.CloudAssembly | None:
    """Write cdk.out; None when cdk-nag found something (CDK prints each finding)."""
    try:
        return app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        return None


def main(argv: list[str]) -> int:
    """`python -m infra`: write every stack to cdk.out/; a cdk-nag finding fails it.
    `python -m infra bootstrap ENV`: print what `make infra-bootstrap` needs (JSON)."""
    if argv[:1] == ["bootstrap"] and len(argv) == 2:
        print(describe_bootstrap(get_settings(), argv[1]))
        return 0
    try:
        assembly = synthesize(build_app())
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if assembly is None:
        return 1
    stacks = ", ".join(stack.stack_name for stack in assembly.stacks)
    print(f"infra-synth: {len(assembly.stacks)} stacks ({stacks}) in {assembly.directory}")
    return 0
