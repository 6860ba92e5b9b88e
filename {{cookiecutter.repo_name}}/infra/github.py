"""GitHub Actions' way into the account: the OIDC provider, the CI role, a deploy role per
environment.

No static keys: a workflow gets short-lived credentials by OIDC, and only from this
repository's main branch (CI: push images) or from one GitHub environment (its CD job): the
production role trusts the protected `production` environment only. A deploy role runs
`cdk deploy` through its environment's CDK bootstrap roles, and itself only runs that
environment's jobs task, reads its stack outputs and records its deployments.
"""

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.access import ECS_TASKS, allow, arn
from infra.environments import bootstrap_qualifier
from infra.nag import acknowledge_wildcards
from src.names import log_group_name

ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
ECR_PUSH = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]


def deploy_statements(
    scope: Construct, project: str, environment: str
) -> list[iam.PolicyStatement]:
    """What the CD does in one environment besides `cdk deploy`."""
    stack = cdk.Stack.of(scope)
    prefix = f"{project}-{environment}"
    parameter = arn(scope, "ssm", f"parameter/{project}/{environment}")
    logs = f"log-group:{log_group_name(project, environment)}:log-stream:*"
    on_the_cluster = {"ecs:cluster": arn(scope, "ecs", f"cluster/{prefix}")}
    roles = [f"arn:{stack.partition}:iam::{stack.account}:role/{prefix}-{name}"
             for name in ("jobs-task", "execution")]  # fmt: skip
    return [
        allow(["ecs:RunTask"], [arn(scope, "ecs", f"task-definition/{prefix}-jobs:*")],
              ArnEquals=on_the_cluster),
        allow(["ecs:DescribeTasks", "ecs:StopTask"], [arn(scope, "ecs", f"task/{prefix}/*")]),
        allow(["ecs:DescribeServices"], [arn(scope, "ecs", f"service/{prefix}/*")]),
        allow(["iam:PassRole"], roles, StringEquals={"iam:PassedToService": ECS_TASKS}),
        allow(["logs:GetLogEvents"], [arn(scope, "logs", logs)]),
        allow(["ssm:GetParameter", "ssm:PutParameter"], [f"{parameter}/deployment"]),
        # The smoke tests' key; Secrets Manager appends a random suffix to a secret's ARN.
        allow(["secretsmanager:GetSecretValue"],
              [arn(scope, "secretsmanager", f"secret:{project}/{environment}/api-keys-*")]),
    ]  # fmt: skip


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
        self.repository = repository
        url = f"https://{ISSUER}"
        self.provider = iam.CfnOIDCProvider(self, "Provider", url=url, client_id_list=[AUDIENCE])
        stack = cdk.Stack.of(self)
        repositories = arn(self, "ecr", f"repository/{project}/*")
        # GetAuthorizationToken has no resource-level permissions.
        ci = [allow(["ecr:GetAuthorizationToken"], ["*"]), allow(ECR_PUSH, [repositories])]
        self.ci_role = self.add_role(
            f"{project}-ci", ["ref:refs/heads/main"], ci,
            "CI on main pushes the images to the project's repositories (ECR login has no ARN)",
        )  # fmt: skip
        for environment in environments:
            # The bootstrap roles `cdk deploy` assumes: this environment's only.
            qualifier = bootstrap_qualifier(project, environment)
            bootstrap = f"arn:{stack.partition}:iam::{stack.account}:role/cdk-{qualifier}-*"
            stacks = [arn(self, "cloudformation", f"stack/{project}-{environment}/*")]
            deploy = [
                allow(["sts:AssumeRole"], [f"{bootstrap}-{stack.account}-{stack.region}"]),
                allow(["cloudformation:DescribeStacks"], stacks),
                allow(["ecr:DescribeImages"], [repositories]),
                *deploy_statements(self, project, environment),
            ]  # fmt: skip
            role = self.add_role(
                f"{project}-{environment}-deploy", [f"environment:{environment}"], deploy,
                f"the CD of {environment} deploys through its CDK bootstrap roles, runs its jobs "
                "task, reads its stack, images and logs, records its deployments",
            )  # fmt: skip
            name = environment.capitalize()
            cdk.CfnOutput(scope, f"{name}DeployRoleArn", value=role.role_arn)
        cdk.CfnOutput(scope, "CiRoleArn", value=self.ci_role.role_arn)

    def add_role(
        self, name: str, subjects: list[str], statements: list[iam.PolicyStatement], reason: str
    ) -> iam.Role:
        """A role GitHub Actions of the repository assume by OIDC from these subjects only."""
        conditions = {
            "StringEquals": {f"{ISSUER}:aud": AUDIENCE},
            "StringLike": {f"{ISSUER}:sub": [f"repo:{self.repository}:{s}" for s in subjects]},
        }
        trusted = iam.FederatedPrincipal(
            self.provider.attr_arn, conditions, "sts:AssumeRoleWithWebIdentity"
        )
        role = iam.Role(
            self, name, role_name=name, assumed_by=trusted, description=f"GitHub Actions: {reason}",
            max_session_duration=cdk.Duration.hours(2),
            inline_policies={"access": iam.PolicyDocument(statements=statements)},
        )  # fmt: skip
        acknowledge_wildcards(role, statements, f"Wildcards inside the project's names: {reason}")
        return role
