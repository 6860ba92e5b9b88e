"""What the account holds once for the project: production's lake (data bucket, Glue
database, Athena workgroup; every other environment's is in its own stack), the ECR
repositories{% if cookiecutter.ci_provider == "github" %} and GitHub's way in (OIDC){% endif %}.

`make init-aws` (src/data/aws_integration.py) creates the same bucket, database, workgroup
and repositories without CloudFormation, e.g. in a sandbox account. An account runs one or
the other: CloudFormation will not adopt a bucket made outside it (`cdk import` can).
"""

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

{% if cookiecutter.ci_provider == "github" -%}
from infra.github import GitHubAccess
{% endif -%}
from infra.nag import acknowledge
from src.names import database_location
from src.settings import Settings


def add_lake(scope: Construct, settings: Settings, access_logs: s3.IBucket) -> None:
    """An environment's lake: its data bucket (versioned, access-logged and retained: the lake
    and the model artifacts outlive any stack), its Glue database and its Athena workgroup,
    which keeps the results in that bucket."""
    bucket = settings.aws.s3.bucket
    s3.Bucket(
        scope, "DataBucket", bucket_name=bucket, versioned=True,
        encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL, server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{bucket}/", removal_policy=cdk.RemovalPolicy.RETAIN,
    )  # fmt: skip
    database = {"name": settings.lake_database, "locationUri": database_location(settings),
                "description": "Iceberg tables of the project (bronze_, silver_, ...)"}  # fmt: skip
    glue.CfnDatabase(
        scope, "LakeDatabase", catalog_id=cdk.Aws.ACCOUNT_ID, database_input=database
    ).apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    results = {"outputLocation": settings.athena_output_location,
               "encryptionConfiguration": {"encryptionOption": "SSE_S3"}}  # fmt: skip
    athena.CfnWorkGroup(
        scope, "Workgroup", name=settings.aws.athena.workgroup,
        description="Queries of the project's Iceberg tables",
        work_group_configuration={"enforceWorkGroupConfiguration": True,
                                  "publishCloudWatchMetricsEnabled": True,
                                  "resultConfiguration": results},
    )  # fmt: skip
    cdk.CfnOutput(scope, "BucketName", value=bucket)


def log_bucket(scope: Construct, name: str | None = None) -> s3.Bucket:
    """A bucket for access logs (logging it into itself would loop)."""
    bucket = s3.Bucket(
        scope, "AccessLogs", bucket_name=name, encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )  # fmt: skip
    acknowledge(bucket, "S1", "The access-log bucket; logging it into itself would loop.")
    return bucket


class SharedStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        settings: Settings,
        environments: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=f"{project}: lake, images", **kwargs)
        add_lake(self, settings, log_bucket(self, f"{settings.aws.s3.bucket}-access-logs"))
        for index, name in enumerate(settings.aws.ecr.repositories):
            # A tag names one image for good: a deployment by tag or digest is reproducible.
            ecr.Repository(
                self, f"Repository{index}", repository_name=name, image_scan_on_push=True,
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                lifecycle_rules=[ecr.LifecycleRule(max_image_count=100)],
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )  # fmt: skip
{%- if cookiecutter.ci_provider == "github" %}
        if settings.aws.github_repository:
            GitHubAccess(
                self,
                "GitHub",
                project=project,
                repository=settings.aws.github_repository,
                environments=environments,
            )
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "infra:no-github-repository",
                "github_repository is empty in config/aws_config.yaml: no GitHub roles",
            )
{%- endif %}
