"""The project's AWS resources, created idempotently: what `make init-aws` sets up.

- the S3 bucket: versioning on (old versions of raw files stay recoverable), default
  encryption, every public access blocked;
- the Glue database the Iceberg tables live in (Athena's `CREATE DATABASE ml_database`),
  located under the bucket's warehouse prefix;
- the Athena workgroup, writing query results under the bucket's result prefix;
- the ECR repositories of the project's images, scanning images on push.

Each step reports whether it found the resource or created it; running it twice creates
nothing the second time. The settings (config/aws_config.yaml) name every resource.

`describe_lake_resources` and the constants below are the one definition of these
resources: the CDK stack (infra/shared_stack.py) builds the same ones from them, for
accounts run with CloudFormation (`make infra-deploy`) instead of `make init-aws`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from src.data.aws_integration import (
    AthenaQueryError,
    build_athena_runner,
    build_aws_client,
    error_code,
)
from src.errors import ProjectError
from src.names import database_location

if TYPE_CHECKING:
    from src.settings import Settings

Status = Literal["created", "found"]

BUCKET_ENCRYPTION = "AES256"
ECR_ENCRYPTION = "AES256"
ECR_SCAN_ON_PUSH = True
ATHENA_RESULT_ENCRYPTION = "SSE_S3"
WORKGROUP_DESCRIPTION = "Queries of the project's Iceberg tables"


@dataclass(frozen=True)
class LakeResources:
    """The names of what `init-aws` (or the shared stack) creates."""

    bucket: str
    database: str
    database_location: str
    workgroup: str
    athena_output_location: str
    ecr_repositories: tuple[str, ...]


def describe_lake_resources(settings: Settings) -> LakeResources:
    aws = settings.aws
    return LakeResources(
        bucket=aws.s3.bucket,
        database=settings.lake_database,
        database_location=database_location(settings),
        workgroup=aws.athena.workgroup,
        athena_output_location=f"s3://{aws.s3.bucket}/{aws.s3.athena_results_prefix}/",
        ecr_repositories=tuple(aws.ecr.repositories),
    )


@dataclass(frozen=True)
class ResourceStatus:
    kind: str
    name: str
    status: Status
    detail: str = ""


def ensure_bucket(s3: Any, bucket: str, region: str) -> ResourceStatus:
    try:
        s3.head_bucket(Bucket=bucket)
        status: Status = "found"
    except ClientError as error:
        if error_code(error) not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        # us-east-1 is the one region that refuses a LocationConstraint.
        location = {} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}
        }  # fmt: skip
        s3.create_bucket(Bucket=bucket, **location)
        status = "created"
    # Applied every time: cheap, idempotent, and it repairs a bucket someone loosened.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": BUCKET_ENCRYPTION}}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return ResourceStatus("s3 bucket", bucket, status, "versioning, AES256, public access blocked")


def ensure_glue_database(glue: Any, database: str, location: str) -> ResourceStatus:
    try:
        glue.get_database(Name=database)
        return ResourceStatus("glue database", database, "found")
    except ClientError as error:
        if error_code(error) != "EntityNotFoundException":
            raise
    glue.create_database(DatabaseInput={"Name": database, "LocationUri": location})
    return ResourceStatus("glue database", database, "created", location)


def ensure_workgroup(athena: Any, workgroup: str, output_location: str) -> ResourceStatus:
    try:
        found = athena.get_work_group(WorkGroup=workgroup).get("WorkGroup")
    except ClientError as error:
        if error_code(error) not in {"InvalidRequestException", "ResourceNotFoundException"}:
            raise
        found = None  # AWS answers a missing workgroup with an error, moto with null.
    if found:
        configured = found.get("Configuration", {}).get("ResultConfiguration", {})
        where = configured.get("OutputLocation", "(none)")
        return ResourceStatus("athena workgroup", workgroup, "found", f"results at {where}")
    athena.create_work_group(
        Name=workgroup,
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": output_location,
                "EncryptionConfiguration": {"EncryptionOption": ATHENA_RESULT_ENCRYPTION},
            },
            "EnforceWorkGroupConfiguration": True,
            "PublishCloudWatchMetricsEnabled": True,
        },
        Description=WORKGROUP_DESCRIPTION,
    )
    return ResourceStatus("athena workgroup", workgroup, "created", f"results at {output_location}")


def ensure_ecr_repository(ecr: Any, name: str) -> ResourceStatus:
    try:
        ecr.describe_repositories(repositoryNames=[name])
        return ResourceStatus("ecr repository", name, "found")
    except ClientError as error:
        if error_code(error) != "RepositoryNotFoundException":
            raise
    answer = ecr.create_repository(
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": ECR_SCAN_ON_PUSH},
        encryptionConfiguration={"encryptionType": ECR_ENCRYPTION},
    )
    return ResourceStatus("ecr repository", name, "created", answer["repository"]["repositoryUri"])


def create_database_statement(database: str) -> str:
    """The seed's Athena DDL, made idempotent."""
    return f"CREATE DATABASE IF NOT EXISTS `{database}`"


def ensure_aws_resources(
    settings: Settings, report: Callable[[ResourceStatus], None] = lambda _: None
) -> list[ResourceStatus]:
    """Create what is missing, in dependency order; `report` sees each result as it comes."""
    plan = describe_lake_resources(settings)
    steps: list[Callable[[], ResourceStatus]] = [
        lambda: ensure_bucket(build_aws_client(settings, "s3"), plan.bucket, settings.aws.region),
        lambda: ensure_glue_database(
            build_aws_client(settings, "glue"), plan.database, plan.database_location
        ),
        lambda: ensure_workgroup(
            build_aws_client(settings, "athena"), plan.workgroup, plan.athena_output_location
        ),
        lambda: check_athena(settings),
        *(
            (lambda name=name: ensure_ecr_repository(build_aws_client(settings, "ecr"), name))
            for name in plan.ecr_repositories
        ),
    ]
    results = []
    for step in steps:
        try:
            result = step()
        except (ClientError, BotoCoreError) as error:
            raise ProjectError(f"init-aws stopped: {error}") from error
        report(result)
        results.append(result)
    return results


def check_athena(settings: Settings) -> ResourceStatus:
    """Run the seed's CREATE DATABASE through Athena: proves the workgroup answers."""
    statement = create_database_statement(settings.lake_database)
    try:
        build_athena_runner(settings).execute(statement)
    except AthenaQueryError as error:
        raise ProjectError(f"init-aws: Athena could not run {statement!r}: {error}") from error
    return ResourceStatus("athena database", settings.lake_database, "found", statement)
