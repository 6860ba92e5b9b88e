"""GitHub Actions' way into the account: the OIDC provider, the CI role and the deploy role.

No static keys: a workflow gets short-lived credentials by OIDC, and only from this
repository's main branch (CI: push images) or its deployment environments (CD).
The deploy role runs `cdk deploy` through the CDK bootstrap roles (which CloudFormation
uses), and itself only runs the jobs task, reads the stack outputs and records deployments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge
from infra.naming import log_group_name, parameter_name, role_name, secret_name, task_family

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


# Pseudo parameters as CDK tokens (in the policy) and as cdk-nag names them (in findings).
TOKENS = {"partition": cdk.Aws.PARTITION, "region": cdk.Aws.REGION, "account": cdk.Aws.ACCOUNT_ID}
NAG_NAMES = {
    "partition": "<AWS::Partition>",
    "region": "<AWS::Region>",
    "account": "<AWS::AccountId>",
}


def arn(service: str, resource: str, *, region: bool = True) -> str:
    """An ARN pattern with {partition}, {region} and {account} left to fill in."""
    where = "{region}" if region else ""
    # Concatenated, not an f-string: the project files are Jinja templates too.
    return "arn:{partition}:" + f"{service}:{where}:" + "{account}:" + resource


class Grants:
    """Policy statements from ARN patterns; remembers the patterns that hold a wildcard."""

    def __init__(self) -> None:
        self.statements: list[iam.PolicyStatement] = []
        self.wildcards: set[str] = set()

    def allow(
        self,
        sid: str,
        actions: Sequence[str],
        patterns: Sequence[str],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self.statements.append(
            iam.PolicyStatement(
                sid=sid,
                actions=list(actions),
                resources=[pattern.format(**TOKENS) for pattern in patterns],
                conditions=conditions,
            )
        )
        self.wildcards |= {pattern.format(**NAG_NAMES) for pattern in patterns if "*" in pattern}

    def acknowledge_wildcards(self, role: iam.Role, reason: str) -> None:
        for finding in sorted(self.wildcards):
            acknowledge(role, f"IAM5[Resource::{finding}]", reason)


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
        ci = Grants()
        # GetAuthorizationToken has no resource-level permissions.
        ci.allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"])
        ci.allow("PushProjectImages", ECR_PUSH_ACTIONS, [repositories])
        self.ci_role = iam.Role(
            self,
            "CiRole",
            role_name=f"{project}-ci",
            description="GitHub Actions CI on main: push the project's images to ECR",
            assumed_by=trusted([f"repo:{repository}:ref:refs/heads/main"]),
            max_session_duration=cdk.Duration.hours(1),
            inline_policies={"push-images": iam.PolicyDocument(statements=ci.statements)},
        )
        ci.acknowledge_wildcards(
            self.ci_role,
            "ECR login has no resource-level permissions; pushes go to the project's "
            "repositories only (<project>/<image>).",
        )

        deploy = Grants()
        deploy.allow(
            "CdkDeployThroughTheBootstrapRoles",
            ["sts:AssumeRole"],
            [arn("iam", f"role/cdk-{BOOTSTRAP_QUALIFIER}-*-", region=False) + "{account}-{region}"],
        )
        deploy.allow(
            "ReadTheStackOutputs",
            ["cloudformation:DescribeStacks"],
            [arn("cloudformation", f"stack/{project}-*/*")],
        )
        deploy.allow(
            "RunTheJobsTask",
            ["ecs:RunTask"],
            [
                arn("ecs", f"task-definition/{task_family(project, env, 'jobs')}:*")
                for env in environments
            ],
            conditions={
                "ArnLike": {"ecs:cluster": arn("ecs", f"cluster/{project}-*").format(**TOKENS)}
            },
        )
        deploy.allow(
            "WatchTheTasks",
            ["ecs:DescribeTasks", "ecs:StopTask"],
            [arn("ecs", f"task/{project}-*/*")],
        )
        deploy.allow(
            "WatchTheServices", ["ecs:DescribeServices"], [arn("ecs", f"service/{project}-*/*")]
        )
        deploy.allow(
            "HandTheJobsRolesToEcsOnly",
            ["iam:PassRole"],
            [
                arn("iam", f"role/{role_name(project, env, purpose)}", region=False)
                for env in environments
                for purpose in ("jobs-task", "execution")
            ],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        )
        deploy.allow(
            "ReadTheJobsLogs",
            ["logs:GetLogEvents"],
            [
                arn("logs", f"log-group:{log_group_name(project, env)}:log-stream:*")
                for env in environments
            ],
        )
        deploy.allow(
            "RecordTheDeployments",
            ["ssm:GetParameter", "ssm:PutParameter"],
            [
                arn("ssm", f"parameter{parameter_name(project, env, 'deployment')}")
                for env in environments
            ],
        )
        deploy.allow(
            "ReadTheJobsNetwork",
            ["ssm:GetParameter"],
            [
                arn("ssm", f"parameter{parameter_name(project, env, 'jobs-network')}")
                for env in environments
            ],
        )
        deploy.allow("CheckTheImagesExist", ["ecr:DescribeImages"], [repositories])
        # The smoke tests' key; Secrets Manager appends a random suffix to a secret's ARN.
        deploy.allow(
            "ReadTheSmokeTestKey",
            ["secretsmanager:GetSecretValue"],
            [
                arn("secretsmanager", f"secret:{secret_name(project, env, 'api-keys')}-*")
                for env in environments
            ],
        )
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            role_name=f"{project}-deploy",
            description="GitHub Actions CD: cdk deploy, run the jobs task, record deployments",
            assumed_by=trusted(
                [f"repo:{repository}:environment:{environment}" for environment in environments]
            ),
            max_session_duration=cdk.Duration.hours(2),
            inline_policies={"deploy": iam.PolicyDocument(statements=deploy.statements)},
        )
        deploy.acknowledge_wildcards(
            self.deploy_role,
            "Wildcards only inside the project's names: its repositories, the revisions of its "
            "jobs task, task/service/stack ids made at run time, its log streams, and the CDK "
            "bootstrap roles of this account and region that `cdk deploy` assumes.",
        )
