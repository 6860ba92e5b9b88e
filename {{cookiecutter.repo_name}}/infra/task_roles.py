"""IAM task roles from src/data/access.py: each ECS task gets exactly what it declares."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge
from src.data.access import ALL_TABLES, ATHENA_QUERY_ACTIONS, TaskAccess

ECS_TASKS = "ecs-tasks.amazonaws.com"


def bucket_arn(bucket: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:s3:::{bucket}"


def glue_arn(resource: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:glue:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:{resource}"


def build_statements(access: TaskAccess) -> list[iam.PolicyStatement]:
    bucket = bucket_arn(access.bucket)
    statements = [
        iam.PolicyStatement(
            sid="ListTheTaskPrefixes",
            actions=["s3:ListBucket"],
            resources=[bucket],
            conditions={
                "StringLike": {
                    "s3:prefix": [
                        pattern for prefix in access.prefixes for pattern in (prefix, f"{prefix}/*")
                    ]
                }
            },
        ),
        iam.PolicyStatement(
            sid="ObjectsUnderTheTaskPrefixes",
            actions=list(access.s3_object_actions),
            resources=[f"{bucket}/{prefix}/*" for prefix in access.prefixes],
        ),
    ]
    if access.glue_actions and access.database:
        tables = [glue_arn(f"table/{access.database}/{table}") for table in access.tables]
        statements.append(
            iam.PolicyStatement(
                sid="TheTaskTables",
                actions=list(access.glue_actions),
                resources=[glue_arn("catalog"), glue_arn(f"database/{access.database}"), *tables],
            )
        )
    if access.athena_workgroup:
        statements += [
            iam.PolicyStatement(
                sid="QueryInTheProjectWorkgroup",
                actions=list(ATHENA_QUERY_ACTIONS),
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:athena:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}"
                    f":workgroup/{access.athena_workgroup}"
                ],
            ),
            # Athena checks the region of the bucket it writes results to.
            iam.PolicyStatement(
                sid="FindTheResultBucket", actions=["s3:GetBucketLocation"], resources=[bucket]
            ),
        ]
    return statements


def ecs_tasks_principal() -> iam.IPrincipal:
    """ECS tasks of this account only (the confused-deputy guard)."""
    return iam.ServicePrincipal(ECS_TASKS).with_conditions(
        {"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}
    )


def build_task_role(scope: Construct, access: TaskAccess, role_name: str) -> iam.Role:
    role = iam.Role(
        scope,
        f"{access.task.capitalize()}TaskRole",
        role_name=role_name,
        description=f"ECS task role of {access.task}: {access.description}",
        assumed_by=ecs_tasks_principal(),
        inline_policies={"access": iam.PolicyDocument(statements=build_statements(access))},
    )
    for finding, reason in wildcard_findings(access):
        acknowledge(role, f"IAM5[Resource::{finding}]", reason)
    return role


def wildcard_findings(access: TaskAccess) -> list[tuple[str, str]]:
    """The role's wildcard resources as cdk-nag names them, each with its reason."""
    findings = [
        (
            f"arn:<AWS::Partition>:s3:::{access.bucket}/{prefix}/*",
            f"The objects below {prefix}/, the task's own prefix: keys are made at run time.",
        )
        for prefix in access.prefixes
    ]
    if ALL_TABLES in access.tables:
        findings.append(
            (
                f"arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/{access.database}/*",
                "Every table of the project's database: tables appear as datasets land.",
            )
        )
    return findings
