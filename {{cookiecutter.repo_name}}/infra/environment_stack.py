"""One environment (staging, production): everything its services and jobs run on.

The images' tag is the stack parameter `ImageTag`: `make infra-deploy ENV=<env>` without
IMAGE_TAG keeps the running tag (CloudFormation's previous value) and changes only the
infrastructure; with IMAGE_TAG it also rolls the services to the new images.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.api_service import ApiService
from infra.log_groups import build_log_group
from infra.mlflow_server import URI_UNSAFE, MlflowServer
from infra.nag import PLAIN_VARIABLES, acknowledge
from infra.naming import (
    cluster_name,
    discovery_namespace,
    log_group_name,
    parameter_name,
    role_name,
    secret_name,
    task_family,
)
from infra.network import Network
from infra.task_roles import (
    build_launch_policy,
    build_task_role,
    construct_name,
    ecs_tasks_principal,
)
from src.data.access import (
    database_location,
    describe_orchestrator_access,
    describe_task_access,
)
from src.data.feature_store import load_feature_view
from src.orchestration import (
    CONTAINER_NAME,
    ECS_STEPS,
    LOG_STREAM_PREFIX,
    EcsStep,
    task_definition_family,
)
from src.settings import FEATURES_FILE, EnvironmentDeployment, ServiceSize, Settings

IMAGE_TAG_PARAMETER = "ImageTag"
# The steps that talk to the MLflow server: only their containers get its credentials.
MLFLOW_STEPS: frozenset[EcsStep] = frozenset({"training", "batch-inference", "drift-check"})
# Every container of the project runs with these (the settings read them).
COMMON_VARIABLES = {
    "APP_ENV": "aws",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


class EnvironmentStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        environment: str,
        deployment: EnvironmentDeployment,
        settings: Settings,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"{project} {environment}: API, MLflow, jobs", **kwargs
        )
        cdk.Tags.of(self).add("environment", environment)
        image_tag = cdk.CfnParameter(
            self,
            IMAGE_TAG_PARAMETER,
            type="String",
            description="Tag of the project's images in ECR (<version>-<commit>)",
            allowed_pattern=r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
        ).value_as_string
        settings = settings.for_environment(environment)
        view = load_feature_view(FEATURES_FILE)
        access = describe_task_access(settings, view)
        if settings.lake_database != settings.aws.athena.database:
            # Production's database is the shared stack's; another environment's is its own.
            lake_database = glue.CfnDatabase(
                self,
                "LakeDatabase",
                catalog_id=cdk.Aws.ACCOUNT_ID,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=settings.lake_database,
                    location_uri=database_location(settings),
                    description=f"Iceberg tables of {project} {environment}",
                ),
            )
            lake_database.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        network = Network(self, "Network", deployment=deployment)
        vpc = network.vpc
        cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=cluster_name(project, environment),
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        log_group = build_log_group(
            self, "Logs", deployment.log_retention_days, log_group_name(project, environment)
        )
        execution_role = iam.Role(
            self,
            "ExecutionRole",
            role_name=role_name(project, environment, "execution"),
            description="ECS pulls the images, writes the logs and reads the secrets",
            assumed_by=ecs_tasks_principal(),
        )
        roles = {
            name: build_task_role(self, task, role_name(project, environment, f"{name}-task"))
            for name, task in access.items()
        }
        namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=discovery_namespace(project, environment), vpc=vpc
        )
        s3_settings = settings.aws.s3
        mlflow = MlflowServer(
            self,
            "Mlflow",
            project=project,
            environment=environment,
            deployment=deployment,
            vpc=vpc,
            cluster=cluster,
            namespace=namespace,
            task_role=roles["mlflow"],
            execution_role=execution_role,
            log_group=log_group,
            image_tag=image_tag,
            artifacts_uri=f"s3://{s3_settings.bucket}/{s3_settings.mlflow_artifacts_prefix}",
        )
        tracking_uri = ssm.StringParameter(
            self,
            "TrackingUri",
            parameter_name=parameter_name(project, environment, "mlflow-tracking-uri"),
            description="The MLflow server, inside the VPC",
            string_value=mlflow.tracking_uri,
        )
        api_keys = secretsmanager.Secret(
            self,
            "ApiKeys",
            secret_name=secret_name(project, environment, "api-keys"),
            description="The API key of the CD's smoke tests (X-API-Key); key id `cd`",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"key_id": "cd"}),
                generate_string_key="secret",
                exclude_characters=URI_UNSAFE,
                password_length=40,
            ),
        )
        acknowledge(
            api_keys,
            "SMG4",
            "The API reads its keys at start; rotate by putting a new value and "
            "redeploying (docs/deployment.md), the CD's smoke key with it.",
        )
        client_secrets = {
            "MLFLOW_TRACKING_URI": ecs.Secret.from_ssm_parameter(tracking_uri),
            "MLFLOW_TRACKING_USERNAME": ecs.Secret.from_secrets_manager(mlflow.admin, "username"),
            "MLFLOW_TRACKING_PASSWORD": ecs.Secret.from_secrets_manager(mlflow.admin, "password"),
        }
        # Staging gets its own lake database (settings.lake_database), so its smoke traffic
        # never lands in production's tables.
        variables = {**COMMON_VARIABLES, "DEPLOYMENT_ENVIRONMENT": environment}
        api = ApiService(
            self,
            "Api",
            project=project,
            environment=environment,
            deployment=deployment.api,
            vpc=vpc,
            cluster=cluster,
            task_role=roles["api"],
            execution_role=execution_role,
            log_group=log_group,
            image_tag=image_tag,
            environment_variables=variables,
            secrets={
                **client_secrets,
                "API_KEY_ID": ecs.Secret.from_secrets_manager(api_keys, "key_id"),
                "API_KEY_SECRET": ecs.Secret.from_secrets_manager(api_keys, "secret"),
            },
        )
        # One security group for every task of the training image: the jobs and the steps.
        jobs_group = ec2.SecurityGroup(
            self, "JobsSecurityGroup", vpc=vpc, description="Jobs tasks: outbound only"
        )
        repository = ecr.Repository.from_repository_name(
            self, "JobsRepository", f"{project}/training"
        )
        image = ecs.ContainerImage.from_ecr_repository(repository, tag=image_tag)
        self._add_jobs_task(
            project, environment, deployment.jobs, roles["jobs"], execution_role, log_group,
            image, variables, client_secrets,
        )  # fmt: skip
        steps = {
            step: self._add_step_task(
                step,
                environment,
                deployment.steps[step],
                roles[step],
                execution_role,
                log_group,
                image,
                variables,
                client_secrets if step in MLFLOW_STEPS else {},
            )
            for step in ECS_STEPS
        }
        mlflow.allow_clients(api.security_group, jobs_group)
        launcher = build_launch_policy(
            self,
            project=project,
            environment=environment,
            cluster=cluster_name(project, environment),
            families=[task.family for task in steps.values()],
            roles=[*(roles[step] for step in ECS_STEPS), execution_role],
            log_group=log_group_name(project, environment),
            orchestrator=describe_orchestrator_access(settings, view),
        )
        # The CD runs the jobs task with these (deploy/run-ecs-task.sh), and the step
        # launches (settings aws.ecs.subnets / security_groups) take them too.
        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        ssm.StringParameter(
            self,
            "JobsNetwork",
            parameter_name=parameter_name(project, environment, "jobs-network"),
            description="Subnets and security group of the jobs and step tasks (JSON)",
            string_value=cdk.Fn.to_json_string(
                {
                    "subnets": cdk.Fn.join(",", subnets),
                    "security_groups": jobs_group.security_group_id,
                }
            ),
        )
        for name, value in {
            "ApiUrl": api.url,
            "ClusterName": cluster.cluster_name,
            "MlflowTrackingUri": mlflow.tracking_uri,
            "JobsTaskFamily": task_family(project, environment, "jobs"),
            "LaunchStepsPolicyArn": launcher.managed_policy_arn,
            # The names as given: CloudFormation would otherwise cut them out of the ARNs.
            "ApiKeysSecret": secret_name(project, environment, "api-keys"),
            "MlflowAdminSecret": secret_name(project, environment, "mlflow-admin"),
        }.items():
            cdk.CfnOutput(self, name, value=value)
        acknowledge(
            execution_role,
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken, which CDK grants the execution role for the image "
            "pulls, has no resource-level permissions.",
        )

    def _add_jobs_task(
        self,
        project: str,
        environment: str,
        size: ServiceSize,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        image: ecs.ContainerImage,
        variables: dict[str, str],
        secrets: dict[str, ecs.Secret],
    ) -> ecs.FargateTaskDefinition:
        """The one-off commands' task definition (the CD: train, promote; an operator:
        setup-lake, maintenance): run on demand, never a service."""
        return self._add_training_image_task(
            "JobsTask",
            task_family(project, environment, "jobs"),
            "jobs",
            size,
            task_role,
            execution_role,
            log_group,
            image,
            variables,
            secrets,
            command=["train", "--stage-only"],
        )

    def _add_step_task(
        self,
        step: EcsStep,
        environment: str,
        size: ServiceSize,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        image: ecs.ContainerImage,
        variables: dict[str, str],
        secrets: dict[str, ecs.Secret],
    ) -> ecs.FargateTaskDefinition:
        """A heavy step's task definition: the family and container the DAGs launch
        (src/orchestration.py); every launch gives the command (`step <step> ...`)."""
        return self._add_training_image_task(
            f"{construct_name(step)}StepTask",
            task_definition_family(step, environment),
            CONTAINER_NAME,
            size,
            task_role,
            execution_role,
            log_group,
            image,
            variables,
            secrets,
            stream_prefix=LOG_STREAM_PREFIX,
        )

    def _add_training_image_task(
        self,
        construct_id: str,
        family: str,
        container_name: str,
        size: ServiceSize,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        image: ecs.ContainerImage,
        variables: dict[str, str],
        secrets: dict[str, ecs.Secret],
        command: list[str] | None = None,
        stream_prefix: str | None = None,
    ) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self,
            construct_id,
            family=family,
            cpu=size.cpu,
            memory_limit_mib=size.memory_mib,
            task_role=task_role,
            execution_role=execution_role,
            volumes=[ecs.Volume(name=name) for name in ("tmp", "reports", "data")],
        )
        acknowledge(task, "ECS2", PLAIN_VARIABLES)
        container = task.add_container(
            container_name,
            container_name=container_name,
            image=image,
            command=command,
            user="10001:10001",
            readonly_root_filesystem=True,
            environment=variables,
            secrets=secrets or None,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=stream_prefix or container_name, log_group=log_group
            ),
        )
        container.add_mount_points(
            ecs.MountPoint(source_volume="tmp", container_path="/tmp", read_only=False),  # noqa: S108
            ecs.MountPoint(source_volume="reports", container_path="/app/reports", read_only=False),
            ecs.MountPoint(source_volume="data", container_path="/app/data", read_only=False),
        )
        return task
