"""IAM task roles from src/data/access.py: each ECS task gets exactly what it declares."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge
from src.data.access import ALL_TABLES, ATHENA_QUERY_ACTIONS, TaskAccess
from src.orchestration import LOG_STREAM_PREFIX

ECS_TASKS = "ecs-tasks.amazonaws.com"


def bucket_arn(bucket: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:s3:::{bucket}"


def glue_arn(resource: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:glue:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:{resource}"


def build_statements(access: TaskAccess) -> list[iam.PolicyStatement]:
    bucket = bucket_arn(access.bucket)

    def objects(prefixes: tuple[str, ...]) -> list[str]:
        return [f"{bucket}/{prefix}/*" for prefix in prefixes]

    listing = {
        "StringLike": {
            "s3:prefix": [
                pattern for prefix in access.prefixes for pattern in (prefix, f"{prefix}/*")
            ]
        }
    }
    statements = [
        iam.PolicyStatement(
            sid="ListTheBucket" if access.lists_whole_bucket else "ListTheTaskPrefixes",
            actions=["s3:ListBucket"],
            resources=[bucket],
            # See TaskAccess.lists_whole_bucket: a table writer needs S3's 404s.
            conditions=None if access.lists_whole_bucket else listing,
        )
    ]
    for sid, action, prefixes in (
        ("ReadObjects", "s3:GetObject", access.reads),
        ("WriteObjects", "s3:PutObject", access.writes),
        ("DeleteObjects", "s3:DeleteObject", access.deletes),
    ):
        if prefixes:
            statements.append(
                iam.PolicyStatement(sid=sid, actions=[action], resources=objects(prefixes))
            )
    if access.database and access.tables:
        scope = [glue_arn("catalog"), glue_arn(f"database/{access.database}")]
        statements.append(
            iam.PolicyStatement(
                sid="LoadTheTaskTables",
                actions=list(access.glue_read_actions),
                resources=[*scope, *table_arns(access.database, access.tables)],
            )
        )
        if access.writes_tables:
            statements.append(
                iam.PolicyStatement(
                    sid="CommitTheTaskTables",
                    actions=list(access.glue_write_actions),
                    resources=[*scope, *table_arns(access.database, access.writes_tables)],
                )
            )
    if access.athena_workgroup:
        statements += [
            iam.PolicyStatement(
                sid="QueryInTheProjectWorkgroup",
                actions=list(ATHENA_QUERY_ACTIONS),
                resources=[workgroup_arn(access.athena_workgroup)],
            ),
            # Athena checks the region of the bucket it writes results to.
            iam.PolicyStatement(
                sid="FindTheResultBucket", actions=["s3:GetBucketLocation"], resources=[bucket]
            ),
        ]
    return statements


def table_arns(database: str, tables: tuple[str, ...]) -> list[str]:
    return [glue_arn(f"table/{database}/{table}") for table in tables]


def workgroup_arn(workgroup: str) -> str:
    return (
        f"arn:{cdk.Aws.PARTITION}:athena:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}"
        f":workgroup/{workgroup}"
    )


def ecs_tasks_principal() -> iam.IPrincipal:
    """ECS tasks of this account only (the confused-deputy guard)."""
    return iam.ServicePrincipal(ECS_TASKS).with_conditions(
        {"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}
    )


def build_task_role(scope: Construct, access: TaskAccess, role_name: str) -> iam.Role:
    role = iam.Role(
        scope,
        f"{construct_name(access.task)}TaskRole",
        role_name=role_name,
        description=f"ECS task role of {access.task}: {access.description}",
        assumed_by=ecs_tasks_principal(),
        inline_policies={"access": iam.PolicyDocument(statements=build_statements(access))},
    )
    for finding, reason in wildcard_findings(access):
        acknowledge(role, f"IAM5[Resource::{finding}]", reason)
    return role


def construct_name(name: str) -> str:
    """`batch-inference` -> `BatchInference`: construct ids and logical ids of a task."""
    return "".join(part.capitalize() for part in name.split("-"))


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


def build_launch_policy(
    scope: Construct,
    *,
    project: str,
    environment: str,
    cluster: str,
    families: list[str],
    roles: list[iam.IRole],
    log_group: str,
    orchestrator: TaskAccess,
) -> iam.ManagedPolicy:
    """What the orchestrator needs on AWS when the heavy steps run as ECS tasks.

    Attach it to the role the orchestrator runs with: run the step task definitions in this
    cluster only, hand exactly their roles to ECS, watch and stop the tasks (`reattach`
    lists them by startedBy), read their log streams, and what the DAGs' own tasks read
    (`src.data.access.describe_orchestrator_access`: sensors, checks, the steps' results).
    """
    # ARN patterns with {partition}, {region}, {account}: CDK tokens in the policy,
    # cdk-nag's names in the findings acknowledged below.
    ecs_arn = "arn:{partition}:ecs:{region}:{account}"
    on_the_cluster = {"ArnEquals": {"ecs:cluster": fill(f"{ecs_arn}:cluster/{cluster}")}}
    grants: list[tuple[str, list[str], list[str], dict[str, Any] | None, str]] = [
        (
            "RunTheStepTasks",
            ["ecs:RunTask"],
            [f"{ecs_arn}:task-definition/{family}:*" for family in families],
            on_the_cluster,
            "Every revision of the steps' own task definitions, in the environment's cluster.",
        ),
        (
            "FindTheRunningStepTasks",
            ["ecs:ListTasks"],
            [f"{ecs_arn}:container-instance/{cluster}/*"],
            on_the_cluster,
            "ListTasks is authorized on the cluster's container instances.",
        ),
        (
            "WatchAndStopTheTasks",
            ["ecs:DescribeTasks", "ecs:StopTask"],
            [f"{ecs_arn}:task/{cluster}/*"],
            None,
            "Task ids are made at run time, inside the environment's cluster.",
        ),
        (
            "ReadTheStepLogs",
            ["logs:GetLogEvents"],
            [
                "arn:{partition}:logs:{region}:{account}"
                + f":log-group:{log_group}:log-stream:{LOG_STREAM_PREFIX}/*"
            ],
            None,
            "The steps' log streams, named after their task ids.",
        ),
    ]
    statements = [
        iam.PolicyStatement(
            sid=sid,
            actions=actions,
            resources=[fill(pattern) for pattern in patterns],
            conditions=conditions,
        )
        for sid, actions, patterns, conditions, _ in grants
    ]
    statements += build_statements(orchestrator)
    statements.append(
        iam.PolicyStatement(
            sid="HandTheStepRolesToEcsOnly",
            actions=["iam:PassRole"],
            resources=[role.role_arn for role in roles],
            conditions={"StringEquals": {"iam:PassedToService": ECS_TASKS}},
        )
    )
    policy = iam.ManagedPolicy(
        scope,
        "LaunchStepsPolicy",
        managed_policy_name=f"{project}-{environment}-launch-steps",
        description=f"Launch the heavy steps of {project} {environment} as ECS tasks",
        statements=statements,
    )
    for _, _, patterns, _, reason in grants:
        for pattern in patterns:
            if "*" in pattern:
                acknowledge(policy, f"IAM5[Resource::{pattern.format(**NAG_NAMES)}]", reason)
    for finding, reason in wildcard_findings(orchestrator):
        acknowledge(policy, f"IAM5[Resource::{finding}]", reason)
    return policy


NAG_NAMES = {
    "partition": "<AWS::Partition>",
    "region": "<AWS::Region>",
    "account": "<AWS::AccountId>",
}


def fill(pattern: str) -> str:
    return pattern.format(
        partition=cdk.Aws.PARTITION, region=cdk.Aws.REGION, account=cdk.Aws.ACCOUNT_ID
    )
