"""One environment (staging, production): a VPC (only the load balancer in public subnets,
Postgres in isolated ones); the API on HTTPS, checked on /ready and rolled back by ECS on
failed health checks or its 5xx/latency alarms; the MLflow server (basic auth, RDS) reached
by name inside the VPC; the jobs task and one task per heavy step as the DAGs launch them,
each with its own role (infra/access.py), all running images by digest."""

import json
import shlex
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra import access
from infra.environments import Environment, Size
from infra.nag import PLAIN_VARIABLES, acknowledge
from infra.shared_stack import add_lake, log_bucket
from src import names
from src.errors import ConfigError
from src.settings import Settings

API_PORT, MLFLOW_PORT = 8000, 5000
# What the internet reaches; /model, /metrics and the docs answer 404 at the load balancer.
PUBLIC_ROUTES = ["/predict", "/predict/batch", "/health", "/ready"]
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
# The MLflow user of each task that talks to the server (the data steps do not): `reader`,
# which the server creates at start, only reads (READ is everyone's default permission);
# `admin` registers models and moves the aliases (training; the CD's train and promote run
# as the jobs task).
MLFLOW_USERS = {"api": "reader", "batch-inference": "reader", "drift-check": "reader",
                "training": "admin", "jobs": "admin"}  # fmt: skip
# The training image's writable folders (every root file system is read-only).
TRAINING_FOLDERS = ("/tmp", "/app/reports", "/app/data")  # noqa: S108
# Generated passwords go into a database URI and an ini file: letters and digits only.
URI_UNSAFE = "".join(sorted(set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")))
# The API's entry: the key id `cd` with the generated secret, as API__KEYS expects.
API_STARTUP = (
    'export API__KEYS="$API_KEY_ID:$API_KEY_SECRET"; '
    f"exec python -m src serve --prod --host 0.0.0.0 --port {API_PORT}"
)
# Writes the basic-auth config from the secrets (umask 077 keeps it private), creates the
# read-only user or sets its password, then runs the server.
MLFLOW_STARTUP = """
set -eu
umask 077
export BACKEND="postgresql://$DB_USERNAME:$DB_PASSWORD@$DB_HOST:$DB_PORT/mlflow"
cat > /tmp/basic_auth.ini <<EOF
[mlflow]
default_permission = READ
database_uri = $BACKEND
admin_username = $MLFLOW_TRACKING_USERNAME
admin_password = $MLFLOW_TRACKING_PASSWORD
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
export MLFLOW_AUTH_CONFIG_PATH=/tmp/basic_auth.ini
python - <<EOF
import os
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
store, password = SqlAlchemyStore(), os.environ["MLFLOW_READER_PASSWORD"]
store.init_db(os.environ["BACKEND"])
if store.has_user("reader"):
    store.update_user("reader", password=password)
else:
    store.create_user("reader", password)
EOF
exec mlflow server --app-name basic-auth --host 0.0.0.0 --port %(port)d --workers 2 \\
  --backend-store-uri "$BACKEND" --artifacts-destination %(artifacts)s
"""


class EnvironmentStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        environment: str,
        sizing: Environment,
        settings: Settings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=f"{project} {environment}", **kwargs)
        cdk.Tags.of(self).add("environment", environment)
        self.project, self.env_name, self.sizing = project, environment, sizing
        self.settings = settings = access.environment_settings(settings, environment)
        self.images: dict[str, ecs.ContainerImage] = {}
        # The load balancer's and (but in production) the lake bucket's access logs.
        self.access_logs = log_bucket(self)
        if environment != names.PRODUCTION_ENVIRONMENT:  # production's is the shared stack's
            add_lake(self, settings, self.access_logs)
        self.vpc = self.build_vpc()
        self.cluster = ecs.Cluster(
            self, "Cluster", cluster_name=names.cluster_name(project, environment), vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )  # fmt: skip
        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=names.log_group_name(project, environment),
            retention=sizing.log_retention,
        )  # fmt: skip
        self.execution_role = iam.Role(
            self, "ExecutionRole", role_name=f"{project}-{environment}-execution",
            description="ECS pulls the images, writes the logs and reads the secrets",
            assumed_by=access.ecs_tasks_principal(),
        )  # fmt: skip
        acknowledge(self.execution_role, "IAM5[Resource::*]", "ECR login has no resource ARN.")
        self.roles = access.build_task_roles(self, settings, f"{project}-{environment}")
        mlflow = self.build_mlflow()
        api = self.build_api()
        jobs = ec2.SecurityGroup(self, "JobsSecurityGroup", vpc=self.vpc, description="Jobs")
        for client in (api.service, jobs):
            mlflow.connections.allow_from(client, ec2.Port.tcp(MLFLOW_PORT), "MLflow clients")
        self.add_training_tasks()
        self.add_outputs(api.load_balancer, jobs)

    def secret_name(self, name: str) -> str:
        return f"{self.project}/{self.env_name}/{name}"

    def build_vpc(self) -> ec2.IVpc:
        if self.sizing.vpc_id:
            # A lookup: the CDK CLI resolves it once and keeps it in cdk.context.json.
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=self.sizing.vpc_id)
        subnets = [("public", ec2.SubnetType.PUBLIC, 24),
                   ("tasks", ec2.SubnetType.PRIVATE_WITH_EGRESS, 22),
                   ("database", ec2.SubnetType.PRIVATE_ISOLATED, 26)]  # fmt: skip
        vpc = ec2.Vpc(
            self, "Vpc", ip_addresses=ec2.IpAddresses.cidr(self.sizing.vpc_cidr), max_azs=2,
            nat_gateways=self.sizing.nat_gateways,
            # No custom resource (a Lambda) to strip the default group: nothing uses it.
            restrict_default_security_group=False,
            subnet_configuration=[ec2.SubnetConfiguration(name=name, subnet_type=kind,
                                  cidr_mask=mask) for name, kind, mask in subnets],
        )  # fmt: skip
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=self.sizing.log_retention)
        destination = ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
        vpc.add_flow_log(
            "FlowLog", destination=destination, traffic_type=ec2.FlowLogTrafficType.REJECT
        )
        return vpc

    def image(self, name: str) -> ecs.ContainerImage:
        """The project's image `name` by digest (stack parameter `<Name>Digest`, which
        `make infra-deploy TAG=...` reads from ECR): a task runs exactly what was tested."""
        if name not in self.images:
            digest = cdk.CfnParameter(
                self, f"{name.capitalize()}Digest", allowed_pattern="sha256:[0-9a-f]{64}",
                description=f"Digest of the {name} image in ECR (sha256:...)",
            ).value_as_string  # fmt: skip
            repository = ecr.Repository.from_repository_name(
                self, f"{name.capitalize()}Repository", f"{self.project}/{name}"
            )
            repository.grant_pull(self.execution_role)
            uri = repository.repository_uri_for_digest(digest)
            self.images[name] = ecs.ContainerImage.from_registry(uri)
        return self.images[name]

    def add_task(
        self, task: str, size: Size, image: str, container: str, **options: Any
    ) -> ecs.FargateTaskDefinition:
        """A Fargate task of one of the project's images with the task's role: non-root,
        read-only root file system but its `writable` folders, logs to the environment's."""
        writable = options.pop("writable", ("/tmp",))  # noqa: S108
        definition = ecs.FargateTaskDefinition(
            self, f"{access.construct_name(task)}Task", cpu=size.cpu,
            family=names.task_family(self.project, self.env_name, task),
            memory_limit_mib=size.memory_mib, task_role=self.roles[task],
            execution_role=self.execution_role,
            volumes=[ecs.Volume(name=f"writable{index}") for index in range(len(writable))],
        )  # fmt: skip
        acknowledge(definition, "ECS2", PLAIN_VARIABLES)
        logging = ecs.LogDrivers.aws_logs(stream_prefix=container, log_group=self.log_group)
        definition.add_container(
            container, container_name=container, image=self.image(image), user="10001:10001",
            readonly_root_filesystem=True, **{"logging": logging, **options},
        ).add_mount_points(*(
            ecs.MountPoint(source_volume=f"writable{index}", container_path=path, read_only=False)
            for index, path in enumerate(writable)
        ))  # fmt: skip
        return definition

    def add_secret(
        self, name: str, description: str, template: dict[str, str] | None = None, key: str = ""
    ) -> secretsmanager.Secret:
        """A generated secret: a plain string, or `template` as JSON with a generated `key`."""
        generated = secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps(template) if template else None,
            generate_string_key=key or None, exclude_characters=URI_UNSAFE, password_length=40,
        )  # fmt: skip
        secret = secretsmanager.Secret(
            self, access.construct_name(name), secret_name=self.secret_name(name),
            description=description, generate_secret_string=generated,
        )  # fmt: skip
        acknowledge(secret, "SMG4", "Read at start; rotated by hand (docs/deployment.md).")
        return secret

    def build_database(self, server: ec2.SecurityGroup) -> rds.DatabaseInstance:
        """Postgres for the MLflow server, in isolated subnets, reached from `server` only."""
        group = ec2.SecurityGroup(
            self, "DatabaseSecurityGroup", vpc=self.vpc, description="Postgres of MLflow",
            allow_all_outbound=False,
        )  # fmt: skip
        group.add_ingress_rule(server, ec2.Port.tcp(5432), "Postgres from the MLflow server")
        settings = self.sizing.database
        credentials = rds.Credentials.from_generated_secret(
            "mlflow", secret_name=self.secret_name("mlflow-database"), exclude_characters=URI_UNSAFE
        )
        database = rds.DatabaseInstance(
            self, "Database", database_name="mlflow", credentials=credentials,
            # A full version: a major alone is deprecated for new instances. Raise it when
            # AWS retires this minor (minor upgrades apply by themselves in between).
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9),
            instance_type=ec2.InstanceType(settings.instance_type), vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[group], allocated_storage=settings.allocated_storage_gib,
            storage_encrypted=True, multi_az=settings.multi_az,
            deletion_protection=settings.deletion_protection,
            backup_retention=cdk.Duration.days(settings.backup_retention_days),
            cloudwatch_logs_exports=["postgresql"],
        )  # fmt: skip
        acknowledge(database, "SMG4", "Read at start; rotated by hand (docs/deployment.md).")
        acknowledge(database, "RDS6", "MLflow logs in with a password; IAM tokens would expire.")
        acknowledge(database, "RDS11", "Isolated subnets, one client group: a port adds nothing.")
        if not settings.multi_az:
            acknowledge(database, "RDS3", f"{self.env_name} runs one instance to save cost.")
        if not settings.deletion_protection:
            acknowledge(database, "RDS10", f"{self.env_name} can be torn down.")
        return database

    def add_mlflow_logins(self) -> None:
        """A generated password per MLflow user, and each user's login as the MLflow client
        reads it (MLFLOW_TRACKING_USERNAME / _PASSWORD)."""
        self.mlflow_logins = {}
        for user in sorted(set(MLFLOW_USERS.values())):
            secret = self.add_secret(
                f"mlflow-{user}", f"MLflow user {user}", {"username": user}, "password"
            )
            self.mlflow_logins[user] = {
                f"MLFLOW_TRACKING_{key.upper()}": ecs.Secret.from_secrets_manager(secret, key)
                for key in ("username", "password")
            }

    def mlflow_login(self, task: str) -> dict[str, ecs.Secret]:
        """The login of the task's MLflow user; none: no access to the server."""
        return self.mlflow_logins[MLFLOW_USERS[task]] if task in MLFLOW_USERS else {}

    def build_mlflow(self) -> ecs.FargateService:
        """The tracking server behind MLflow's basic auth, one login per user (MLFLOW_USERS)."""
        server = ec2.SecurityGroup(self, "MlflowSecurityGroup", vpc=self.vpc, description="MLflow")
        database = self.build_database(server).secret
        assert database is not None  # noqa: S101  # from_generated_secret makes one
        self.add_mlflow_logins()
        flask = self.add_secret("mlflow-flask-secret-key", "Signs MLflow's sessions")
        namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=f"{self.env_name}.{self.project}.internal", vpc=self.vpc
        )
        host = f"mlflow.{namespace.namespace_name}"
        s3 = self.settings.aws.s3
        artifacts = shlex.quote(f"s3://{s3.bucket}/{s3.mlflow_artifacts_prefix}")
        secrets = {f"DB_{key.upper()}": ecs.Secret.from_secrets_manager(database, key)
                   for key in ("username", "password", "host", "port")}  # fmt: skip
        secrets |= self.mlflow_logins["admin"]
        secrets["MLFLOW_READER_PASSWORD"] = self.mlflow_logins["reader"]["MLFLOW_TRACKING_PASSWORD"]
        secrets["MLFLOW_FLASK_SERVER_SECRET_KEY"] = ecs.Secret.from_secrets_manager(flask)
        allowed = [host, *(f"{name}:{MLFLOW_PORT}" for name in (host, "localhost", "127.0.0.1"))]
        probe = f"import urllib.request as r; r.urlopen('http://127.0.0.1:{MLFLOW_PORT}/health')"
        task = self.add_task(
            "mlflow", self.sizing.mlflow, "mlflow", "mlflow", entry_point=["/bin/sh", "-c"],
            command=[MLFLOW_STARTUP % {"port": MLFLOW_PORT, "artifacts": artifacts}],
            port_mappings=[ecs.PortMapping(container_port=MLFLOW_PORT)], secrets=secrets,
            environment={**TELEMETRY_OFF, "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(allowed)},
            health_check=ecs.HealthCheck(command=["CMD", "python", "-c", probe],
                                         start_period=cdk.Duration.seconds(90)),
        )  # fmt: skip
        self.tracking_uri = f"http://{host}:{MLFLOW_PORT}"
        # Every container of the API and training images: the environment's own bucket,
        # workgroup and (DEPLOYMENT_ENVIRONMENT) database (src/settings.py).
        self.variables = {"APP_ENV": "aws", "DEPLOYMENT_ENVIRONMENT": self.env_name,
                          "AWS__S3__BUCKET": s3.bucket,
                          "AWS__ATHENA__WORKGROUP": self.settings.aws.athena.workgroup,
                          "MLFLOW_TRACKING_URI": self.tracking_uri, **TELEMETRY_OFF}  # fmt: skip
        map_options = ecs.CloudMapOptions(
            name="mlflow", cloud_map_namespace=namespace, dns_ttl=cdk.Duration.seconds(10)
        )
        return ecs.FargateService(
            self, "MlflowService", service_name=f"{self.project}-mlflow", cluster=self.cluster,
            task_definition=task, desired_count=1, security_groups=[server],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            cloud_map_options=map_options, min_healthy_percent=100,
        )  # fmt: skip

    def build_load_balancer(self) -> elbv2.ApplicationLoadBalancer:
        """The one public thing: its listener ports open, its access logs in a bucket."""
        group = ec2.SecurityGroup(
            self, "LoadBalancerSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="Public load balancer of the API",
        )  # fmt: skip
        acknowledge(group, "EC23", "The API's public listeners; prediction routes need a key.")
        balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=self.vpc, internet_facing=True, security_group=group,
            drop_invalid_header_fields=True,
        )  # fmt: skip
        balancer.log_access_logs(self.access_logs, prefix="alb")
        return balancer

    def build_api(self) -> ecs_patterns.ApplicationLoadBalancedFargateService:
        """The API service, on HTTPS only (HTTP redirects to it)."""
        keys = self.add_secret("api-keys", "The CD's smoke-test key", {"key_id": "cd"}, "secret")
        production = self.env_name == names.PRODUCTION_ENVIRONMENT
        alias = names.PRODUCTION_ALIAS if production else names.STAGING_ALIAS
        task = self.add_task(
            "api", self.sizing.api, "api", "api", entry_point=["/bin/sh", "-c"],
            command=[API_STARTUP], port_mappings=[ecs.PortMapping(container_port=API_PORT)],
            environment={**self.variables, "API__MODEL_ALIAS": alias},
            secrets={**self.mlflow_login("api"),
                     "API_KEY_ID": ecs.Secret.from_secrets_manager(keys, "key_id"),
                     "API_KEY_SECRET": ecs.Secret.from_secrets_manager(keys, "secret")},
            stop_timeout=cdk.Duration.seconds(40),
        )  # fmt: skip
        api = ecs_patterns.ApplicationLoadBalancedFargateService(
            self, "Api", cluster=self.cluster, task_definition=task,
            service_name=f"{self.project}-api", desired_count=max(self.sizing.api_desired_count, 1),
            load_balancer=self.build_load_balancer(), certificate=self.build_certificate(),
            redirect_http=True, ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=cdk.Duration.seconds(120), min_healthy_percent=100,
        )  # fmt: skip
        api.target_group.configure_health_check(
            path="/ready", healthy_http_codes="200", interval=cdk.Duration.seconds(15),
            healthy_threshold_count=2, unhealthy_threshold_count=3,
        )  # fmt: skip
        api.target_group.set_attribute("deregistration_delay.timeout_seconds", "30")
        # The pattern refuses 0 tasks; the service takes them (a first deploy before any model).
        service = cast(ecs.CfnService, api.service.node.default_child)
        service.desired_count = self.sizing.api_desired_count
        api.listener.add_action(
            "PublicRoutes", priority=10, action=elbv2.ListenerAction.forward([api.target_group]),
            conditions=[elbv2.ListenerCondition.path_patterns(PUBLIC_ROUTES)],
        )  # fmt: skip
        api.listener.add_action("OtherRoutes", action=elbv2.ListenerAction.fixed_response(404))
        replaced = "@aws-cdk/aws-elbv2:listenerExistingDefaultActionReplaced"  # by the 404
        cdk.Annotations.of(api.listener).acknowledge_warning(replaced, "public routes only")
        if self.sizing.waf_rate_limit:
            self.add_waf(api.load_balancer)
        alarms = self.build_rollback_alarms(api.target_group)
        api.service.enable_deployment_alarms(
            [alarm.alarm_name for alarm in alarms], behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM
        )
        return api

    def build_certificate(self) -> acm.ICertificate:
        arn, domain = self.sizing.certificate_arn, self.sizing.domain_name
        if arn:
            return acm.Certificate.from_certificate_arn(self, "Certificate", arn)
        if domain:
            validation = acm.CertificateValidation.from_dns()
            return acm.Certificate(self, "Certificate", domain_name=domain, validation=validation)
        raise ConfigError(
            f"environment {self.env_name} has no TLS certificate: set domain_name (ACM validates "
            "it by DNS) or certificate_arn (an ACM certificate) in infra/environments.py"
        )

    def add_waf(self, balancer: elbv2.IApplicationLoadBalancer) -> None:
        """A web ACL that blocks a client IP above the rate limit (requests per 5 minutes)."""

        def visibility(name: str) -> dict[str, Any]:
            return {"cloudWatchMetricsEnabled": True, "metricName": name,
                    "sampledRequestsEnabled": True}  # fmt: skip

        rate = {"aggregateKeyType": "IP", "limit": self.sizing.waf_rate_limit}
        rule = {"name": "rate-per-ip", "priority": 0, "action": {"block": {}},
                "statement": {"rateBasedStatement": rate},
                "visibilityConfig": visibility("rate-per-ip")}  # fmt: skip
        acl = wafv2.CfnWebACL(
            self, "WebAcl", scope="REGIONAL", default_action={"allow": {}}, rules=[rule],
            visibility_config=visibility(f"{self.project}-{self.env_name}-api"),
        )  # fmt: skip
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=balancer.load_balancer_arn,
            web_acl_arn=acl.attr_arn,
        )  # fmt: skip

    def build_rollback_alarms(
        self, target_group: elbv2.ApplicationTargetGroup
    ) -> list[cloudwatch.Alarm]:
        """The 5xx share and the p95 latency, each at its limit or above for 3 of 5 minutes."""
        period = cdk.Duration.minutes(1)
        errors = target_group.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"
        )
        requests = target_group.metrics.request_count(period=period, statistic="Sum")
        error_rate = cloudwatch.MathExpression(
            expression="100 * FILL(errors, 0) / IF(requests > 0, requests, 1)",
            using_metrics={"errors": errors, "requests": requests}, period=period,
        )  # fmt: skip
        latency = target_group.metrics.target_response_time(period=period, statistic="p95")
        limits: list[tuple[str, cloudwatch.Metric | cloudwatch.MathExpression, float]] = [
            ("5xx-rate", error_rate, self.sizing.max_5xx_percent),
            ("p95-latency", latency, self.sizing.max_p95_latency_seconds),
        ]
        return [
            metric.create_alarm(
                self,
                f"{access.construct_name(name)}Alarm",
                threshold=limit,
                alarm_name=f"{self.project}-{self.env_name}-api-{name}",
                alarm_description=f"{name} at {limit} or more for 3 of 5 minutes: rolls back",
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for name, metric, limit in limits
        ]

    def add_training_tasks(self) -> None:
        """The jobs task and one task definition per heavy step (src/names.py), and the
        policy an orchestrator launches the steps with."""
        self.add_task(
            "jobs", self.sizing.jobs, "training", "jobs", writable=TRAINING_FOLDERS,
            command=["train", "--stage-only"], environment=self.variables,
            secrets=self.mlflow_login("jobs"),
        )  # fmt: skip
        logging = ecs.LogDrivers.aws_logs(
            stream_prefix=names.LOG_STREAM_PREFIX, log_group=self.log_group
        )
        for step in names.ECS_STEPS:
            self.add_task(
                step, self.sizing.steps[step], "training", names.CONTAINER_NAME, logging=logging,
                writable=TRAINING_FOLDERS, environment=self.variables,
                secrets=self.mlflow_login(step) or None,
            )  # fmt: skip
        roles = [*(self.roles[step] for step in names.ECS_STEPS), self.execution_role]
        self.launch_policy = access.build_launch_policy(
            self, self.settings, self.project, self.env_name, roles
        )

    def add_outputs(
        self, balancer: elbv2.IApplicationLoadBalancer, jobs: ec2.ISecurityGroup
    ) -> None:
        """What the CD reads (deploy/stack-facts.sh): the jobs task runs in the JobsSubnets
        with the JobsSecurityGroupId, as the steps launched by the orchestrator do."""
        host = self.sizing.domain_name or balancer.load_balancer_dns_name
        subnets = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        for name, value in {
            "JobsSubnets": cdk.Fn.join(",", subnets.subnet_ids),
            "JobsSecurityGroupId": jobs.security_group_id,
            "ApiUrl": f"https://{host}",
            "ClusterName": self.cluster.cluster_name,
            "MlflowTrackingUri": self.tracking_uri,
            "JobsTaskFamily": names.task_family(self.project, self.env_name, "jobs"),
            "LaunchStepsPolicyArn": self.launch_policy.managed_policy_arn,
            # The names as given: CloudFormation would otherwise cut them out of the ARNs.
            "ApiKeysSecret": self.secret_name("api-keys"),
            "MlflowAdminSecret": self.secret_name("mlflow-admin"),
        }.items():
            cdk.CfnOutput(self, name, value=value)
