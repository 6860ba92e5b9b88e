"""The MLflow tracking server: ECS service, RDS Postgres, the artifact prefix, basic auth.

MLflow's own basic-auth app (`mlflow server --app-name basic-auth`) stands in front of
every route but /health; its admin credentials are a Secrets Manager secret that the API
and the jobs receive as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD. The server has
no load balancer: it is reachable only inside the VPC, by name through Cloud Map
(`mlflow.<namespace>:5000`), and only from the security groups allowed to.
"""

from __future__ import annotations

import json
import shlex

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from infra.nag import PLAIN_VARIABLES, acknowledge
from infra.naming import secret_name, service_name, task_family
from src.settings import EnvironmentDeployment

PORT = 5000
DATABASE_NAME = "mlflow"
ADMIN_USERNAME = "admin"
# Generated passwords go into a database URI and an ini file: letters and digits only.
URI_UNSAFE = "".join(sorted(set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")))

# Writes the basic-auth config from the secrets, then runs the server. /tmp is the task's
# one writable volume (read-only root file system), umask 077 keeps the file private.
STARTUP = """
set -eu
umask 077
backend="postgresql://$DB_USER:$DB_PASSWORD@$DB_HOST:$DB_PORT/%(database)s"
cat > /tmp/basic_auth.ini <<EOF
[mlflow]
default_permission = READ
database_uri = $backend
admin_username = $MLFLOW_TRACKING_USERNAME
admin_password = $MLFLOW_TRACKING_PASSWORD
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
export MLFLOW_AUTH_CONFIG_PATH=/tmp/basic_auth.ini
exec mlflow server --app-name basic-auth --host 0.0.0.0 --port %(port)d --workers 2 \\
  --backend-store-uri "$backend" --artifacts-destination %(artifacts)s
"""


class MlflowServer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        environment: str,
        deployment: EnvironmentDeployment,
        vpc: ec2.IVpc,
        cluster: ecs.Cluster,
        namespace: servicediscovery.PrivateDnsNamespace,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        image_tag: str,
        artifacts_uri: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.admin = secretsmanager.Secret(
            self,
            "AdminSecret",
            secret_name=secret_name(project, environment, "mlflow-admin"),
            description="MLflow basic-auth admin: the API and the jobs log in with it",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"username": ADMIN_USERNAME}),
                generate_string_key="password",
                exclude_characters=URI_UNSAFE,
                password_length=32,
            ),
        )
        flask_key = secretsmanager.Secret(
            self,
            "FlaskSecretKey",
            secret_name=secret_name(project, environment, "mlflow-flask-secret-key"),
            description="Signs the MLflow UI's sessions (MLFLOW_FLASK_SERVER_SECRET_KEY)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_characters=URI_UNSAFE, password_length=48
            ),
        )
        self.security_group = ec2.SecurityGroup(
            self, "ServerSecurityGroup", vpc=vpc, description="MLflow server tasks"
        )
        database_group = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=vpc,
            description="Postgres of the MLflow server",
            allow_all_outbound=False,
        )
        database_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(5432), "Postgres from the MLflow server only"
        )
        self.database = rds.DatabaseInstance(
            self,
            "Database",
            # A full version: a major alone ("17") is deprecated for new instances. Raise it
            # here when AWS updates the minor (auto_minor_version_upgrade patches in between).
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9),
            instance_type=ec2.InstanceType(deployment.database.instance_type),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[database_group],
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                "mlflow",
                secret_name=secret_name(project, environment, "mlflow-database"),
                exclude_characters=URI_UNSAFE,
            ),
            allocated_storage=deployment.database.allocated_storage_gib,
            storage_encrypted=True,
            multi_az=deployment.database.multi_az,
            deletion_protection=deployment.database.deletion_protection,
            backup_retention=cdk.Duration.days(deployment.database.backup_retention_days),
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=["postgresql"],
            removal_policy=(
                cdk.RemovalPolicy.SNAPSHOT
                if deployment.database.deletion_protection
                else cdk.RemovalPolicy.DESTROY
            ),
        )
        credentials = self.database.secret
        if credentials is None:  # from_generated_secret always makes one
            raise RuntimeError("the MLflow database has no credentials secret")
        acknowledge(
            self.database,
            "RDS6",
            "MLflow connects with a Postgres password (SQLAlchemy URI); IAM authentication "
            "needs short-lived tokens MLflow cannot refresh.",
        )
        acknowledge(
            self.database,
            "RDS11",
            "Postgres' port 5432: the database is in isolated subnets and its security group "
            "admits the MLflow server only; a moved port adds nothing.",
        )
        acknowledge(
            [self.database, self.admin, flask_key],
            "SMG4",
            "MLflow reads its database password, admin password and session key at start; "
            "rotation is the manual step of docs/deployment.md (new value, then a restart).",
        )
        if not deployment.database.multi_az:
            acknowledge(
                self.database,
                "RDS3",
                f"{environment} runs one instance to save cost; multi_az in "
                "config/aws_config.yaml turns it on (production has it).",
            )
        if not deployment.database.deletion_protection:
            acknowledge(
                self.database,
                "RDS10",
                f"{environment} can be torn down; deletion_protection in "
                "config/aws_config.yaml turns it on (production has it).",
            )

        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            family=task_family(project, environment, "mlflow"),
            cpu=deployment.mlflow.cpu,
            memory_limit_mib=deployment.mlflow.memory_mib,
            task_role=task_role,
            execution_role=execution_role,
            volumes=[ecs.Volume(name="tmp")],
        )
        acknowledge(task, "ECS2", PLAIN_VARIABLES)
        repository = ecr.Repository.from_repository_name(self, "Repository", f"{project}/mlflow")
        host = f"mlflow.{namespace.namespace_name}"
        container = task.add_container(
            "mlflow",
            container_name="mlflow",
            image=ecs.ContainerImage.from_ecr_repository(repository, tag=image_tag),
            entry_point=["/bin/sh", "-c"],
            command=[
                STARTUP
                % {"database": DATABASE_NAME, "port": PORT, "artifacts": shlex.quote(artifacts_uri)}
            ],
            user="10001:10001",
            readonly_root_filesystem=True,
            port_mappings=[ecs.PortMapping(container_port=PORT, name="http")],
            environment={
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "DO_NOT_TRACK": "true",
                "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(
                    (host, f"{host}:{PORT}", f"localhost:{PORT}", f"127.0.0.1:{PORT}")
                ),
            },
            secrets={
                "DB_USER": ecs.Secret.from_secrets_manager(credentials, "username"),
                "DB_PASSWORD": ecs.Secret.from_secrets_manager(credentials, "password"),
                "DB_HOST": ecs.Secret.from_secrets_manager(credentials, "host"),
                "DB_PORT": ecs.Secret.from_secrets_manager(credentials, "port"),
                "MLFLOW_TRACKING_USERNAME": ecs.Secret.from_secrets_manager(self.admin, "username"),
                "MLFLOW_TRACKING_PASSWORD": ecs.Secret.from_secrets_manager(self.admin, "password"),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": ecs.Secret.from_secrets_manager(flask_key),
            },
            health_check=ecs.HealthCheck(
                command=[
                    "CMD",
                    "python",
                    "-c",
                    "import urllib.request; "
                    f"urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=4)",
                ],
                interval=cdk.Duration.seconds(15),
                timeout=cdk.Duration.seconds(5),
                retries=3,
                start_period=cdk.Duration.seconds(90),
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="mlflow", log_group=log_group),
        )
        container.add_mount_points(
            ecs.MountPoint(source_volume="tmp", container_path="/tmp", read_only=False)  # noqa: S108
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=service_name(project, "mlflow"),
            cluster=cluster,
            task_definition=task,
            desired_count=1,
            security_groups=[self.security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            cloud_map_options=ecs.CloudMapOptions(
                name="mlflow", cloud_map_namespace=namespace, dns_ttl=cdk.Duration.seconds(10)
            ),
            min_healthy_percent=100,
        )
        self.service.node.add_dependency(self.database)
        self.tracking_uri = f"http://{host}:{PORT}"

    def allow_clients(self, *groups: ec2.ISecurityGroup) -> None:
        for group in groups:
            self.security_group.add_ingress_rule(
                group, ec2.Port.tcp(PORT), "MLflow from the project's tasks"
            )
