"""What the account holds once for every environment: the lake, the image registry{% if cookiecutter.ci_provider == "github" %}, CI access{% endif %}.

The bucket, the Glue database, the Athena workgroup and the ECR repositories are the ones
`make init-aws` creates, from the same definitions (src/data/aws_resources.py). An account
runs either this stack or `make init-aws` for them, not both: CloudFormation will not adopt
a bucket made outside it (`cdk import` can).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

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
from src.settings import Settings

BUCKET_ENCRYPTION = "AES256"
ECR_ENCRYPTION = "AES256"
ECR_SCAN_ON_PUSH = True
ATHENA_RESULT_ENCRYPTION = "SSE_S3"
WORKGROUP_DESCRIPTION = "Queries of the project's Iceberg tables"

# S3's name for the algorithm AES256 in the CDK enum.
BUCKET_ENCRYPTIONS = {"AES256": s3.BucketEncryption.S3_MANAGED}


class SharedStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        settings: Settings,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"{project}: lake, images, CI access", **kwargs
        )
        aws = settings.aws
        plan = SimpleNamespace(
            bucket=aws.s3.bucket,
            database=settings.lake_database,
            database_location=f"{settings.warehouse_location}/{settings.lake_database}.db",
            workgroup=aws.athena.workgroup,
            athena_output_location=f"s3://{aws.s3.bucket}/{aws.s3.athena_results_prefix}/",
            ecr_repositories=tuple(aws.ecr.repositories),
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=f"{plan.bucket}-access-logs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "S1",
            "This is the access-log bucket; logging it into itself would loop.",
        )
        self.bucket = s3.Bucket(
            self,
            "DataBucket",
            bucket_name=plan.bucket,
            versioned=True,
            encryption=BUCKET_ENCRYPTIONS[BUCKET_ENCRYPTION],
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{plan.bucket}/",
            # The lake and the model artifacts outlive any stack.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        database = glue.CfnDatabase(
            self,
            "LakeDatabase",
            catalog_id=cdk.Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=plan.database,
                location_uri=plan.database_location,
                description=f"Iceberg tables of {project} (bronze_, silver_, gold_, ... prefixes)",
            ),
        )
        database.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=plan.workgroup,
            description=WORKGROUP_DESCRIPTION,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=plan.athena_output_location,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option=ATHENA_RESULT_ENCRYPTION
                    ),
                ),
            ),
        )
        self.repositories = [
            self._add_repository(index, name) for index, name in enumerate(plan.ecr_repositories)
        ]
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
        self._add_ci_access(project, settings)

    def _add_repository(self, index: int, name: str) -> ecr.Repository:
        repository = ecr.Repository(
            self,
            f"Repository{index}",
            repository_name=name,
            image_scan_on_push=ECR_SCAN_ON_PUSH,
            lifecycle_rules=[
                ecr.LifecycleRule(description="keep the newest 100 images", max_image_count=100)
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # Stated, not left to the default, so that the template shows it (as init-aws does).
        cfn = cast(ecr.CfnRepository, repository.node.default_child)
        cfn.encryption_configuration = ecr.CfnRepository.EncryptionConfigurationProperty(
            encryption_type=ECR_ENCRYPTION
        )
        return repository

    def _add_ci_access(self, project: str, settings: Settings) -> None:
        """The OIDC provider and roles of the CI/CD provider (none: deploy with your own role)."""
{%- if cookiecutter.ci_provider == "github" %}
        if settings.aws.github_repository:
            access = GitHubAccess(
                self,
                "GitHub",
                project=project,
                repository=settings.aws.github_repository,
                environments=sorted(settings.aws.environments),
            )
            cdk.CfnOutput(self, "CiRoleArn", value=access.ci_role.role_arn)
            cdk.CfnOutput(self, "DeployRoleArn", value=access.deploy_role.role_arn)
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "infra:no-github-repository",
                "github_repository is empty in config/aws_config.yaml: no GitHub OIDC "
                "provider, CI or deploy role in this stack",
            )
{%- endif %}
