"""GitHub Actions' way into the account: the OIDC provider, the CI role and the deploy role.

No static keys: a workflow gets short-lived credentials by OIDC, and only from this
repository's main branch (CI: push images) or its deployment environments (CD).
The deploy role runs `cdk deploy` through the CDK bootstrap roles (which CloudFormation
uses), and itself only runs the jobs task, reads the stack outputs and records deployments.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge

from infra.naming import log_group_name, parameter_name, role_name, task_family

ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# The qualifier of `cdk bootstrap`'s roles (the CDK default).
BOOTSTRAP_QUALIFIER = "hnb659fds"
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def arn(service: str, resource: str, *, region: bool = True) -> str:
    where = cdk.Aws.REGION if region else ""
    return f"arn:{cdk.Aws.PARTITION}:{service}:{where}:{cdk.Aws.ACCOUNT_ID}:{resource}"


class GitHubAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        repository: str,
        environments: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        provider = iam.CfnOIDCProvider(
            self, "Provider", url=f"https://{ISSUER}", client_id_list=[AUDIENCE]
        )

        def trusted(subjects: list[str]) -> iam.IPrincipal:
            return iam.FederatedPrincipal(
                provider.attr_arn,
                conditions={
                    "StringEquals": {f"{ISSUER}:aud": AUDIENCE},
                    "StringLike": {f"{ISSUER}:sub": subjects},
                },
                assume_role_action="sts:AssumeRoleWithWebIdentity",
            )

        repositories = arn("ecr", f"repository/{project}/*")
        self.ci_role = iam.Role(
            self,
            "CiRole",
            role_name=f"{project}-ci",
            description="GitHub Actions CI on main: push the project's images to ECR",
            assumed_by=trusted([f"repo:{repository}:ref:refs/heads/main"]),
            max_session_duration=cdk.Duration.hours(1),
            inline_policies={
                "push-images": iam.PolicyDocument(
                    statements=[
                        # GetAuthorizationToken has no resource-level permissions.
                        iam.PolicyStatement(
                            sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]
                        ),
                        iam.PolicyStatement(
                            sid="PushProjectImages",
                            actions=list(ECR_PUSH_ACTIONS),
                            resources=[repositories],
                        ),
                    ]
                )
            },
        )
        clusters = arn("ecs", f"cluster/{project}-*")
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            role_name=f"{project}-deploy",
            description="GitHub Actions CD: cdk deploy, run the jobs task, record deployments",
            assumed_by=trusted(
                [f"repo:{repository}:environment:{environment}" for environment in environments]
            ),
            max_session_duration=cdk.Duration.hours(2),
            inline_policies={
                "deploy": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="CdkDeployThroughTheBootstrapRoles",
                            actions=["sts:AssumeRole"],
                            resources=[
                                f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:role/"
                                f"cdk-{BOOTSTRAP_QUALIFIER}-*-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}"
                            ],
                        ),
                        iam.PolicyStatement(
                            sid="ReadTheStackOutputs",
                            actions=["cloudformation:DescribeStacks"],
                            resources=[arn("cloudformation", f"stack/{project}-*/*")],
                        ),
                        iam.PolicyStatement(
                            sid="RunTheJobsTask",
                            actions=["ecs:RunTask"],
                            resources=[
                                arn("ecs", f"task-definition/{task_family(project, env, 'jobs')}:*")
                                for env in environments
                            ],
                            conditions={"ArnLike": {"ecs:cluster": clusters}},
                        ),
                        iam.PolicyStatement(
                            sid="WatchTheTasksAndServices",
                            actions=["ecs:DescribeTasks", "ecs:StopTask"],
                            resources=[arn("ecs", f"task/{project}-*/*")],
                        ),
                        iam.PolicyStatement(
                            sid="WatchTheServices",
                            actions=["ecs:DescribeServices"],
                            resources=[arn("ecs", f"service/{project}-*/*")],
                        ),
                        iam.PolicyStatement(
                            sid="HandTheJobsRolesToEcsOnly",
                            actions=["iam:PassRole"],
                            resources=[
                                f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:role/"
                                f"{role_name(project, env, purpose)}"
                                for env in environments
                                for purpose in ("jobs-task", "execution")
                            ],
                            conditions={
                                "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
                            },
                        ),
                        iam.PolicyStatement(
                            sid="ReadTheJobsLogs",
                            actions=["logs:GetLogEvents"],
                            resources=[
                                arn("logs", f"log-group:{log_group_name(project, env)}:log-stream:*")
                                for env in environments
                            ],
                        ),
                        iam.PolicyStatement(
                            sid="RecordTheDeployments",
                            actions=["ssm:GetParameter", "ssm:PutParameter"],
                            resources=[
                                arn("ssm", f"parameter{parameter_name(project, env, 'deployment')}")
                                for env in environments
                            ],
                        ),
                        iam.PolicyStatement(
                            sid="ReadTheJobsNetwork",
                            actions=["ssm:GetParameter"],
                            resources=[
                                arn("ssm", f"parameter{parameter_name(project, env, 'jobs-network')}")
                                for env in environments
                            ],
                        ),
                        iam.PolicyStatement(
                            sid="CheckTheImagesExist",
                            actions=["ecr:DescribeImages"],
                            resources=[repositories],
                        ),
                    ]
                )
            },
        )
        acknowledge(
            [self.ci_role, self.deploy_role],
            "IAM5",
            (
                        "ecr:GetAuthorizationToken has no resource-level permissions; the other "
                        "wildcards stay inside the project's names: its repositories, clusters, "
                        "task and stack ids (made at run time), log streams, and the CDK "
                        "bootstrap roles of this account and region"
                    ),
        )
