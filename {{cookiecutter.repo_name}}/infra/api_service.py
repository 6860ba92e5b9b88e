"""The prediction API: Fargate service behind the environment's one public load balancer.

A deployment is rolled back by ECS itself when its tasks do not become healthy (the
circuit breaker) or when, while it rolls out, the share of 5xx answers or the p95 latency
stays above config/aws_config.yaml's limits (deployment alarms). The load balancer checks
/ready: a task that has not loaded its model takes no traffic.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import PLAIN_VARIABLES, acknowledge
from infra.naming import service_name, task_family
from src.model.mlflow_manager import PRODUCTION_ALIAS, STAGING_ALIAS
from src.settings import ApiDeployment

PORT = 8000
HEALTH_PATH = "/ready"
# The container's entry: the key id `cd` with the generated secret, as API__KEYS expects.
STARTUP = (
    'export API__KEYS="$API_KEY_ID:$API_KEY_SECRET"; '
    f"exec python -m src serve --prod --host 0.0.0.0 --port {PORT}"
)


class ApiService(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        environment: str,
        deployment: ApiDeployment,
        vpc: ec2.IVpc,
        cluster: ecs.Cluster,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        image_tag: str,
        environment_variables: dict[str, str],
        secrets: dict[str, ecs.Secret],
    ) -> None:
        super().__init__(scope, construct_id)
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            family=task_family(project, environment, "api"),
            cpu=deployment.cpu,
            memory_limit_mib=deployment.memory_mib,
            task_role=task_role,
            execution_role=execution_role,
            volumes=[ecs.Volume(name="tmp")],
        )
        acknowledge(task, "ECS2", PLAIN_VARIABLES)
        repository = ecr.Repository.from_repository_name(self, "Repository", f"{project}/api")
        container = task.add_container(
            "api",
            container_name="api",
            image=ecs.ContainerImage.from_ecr_repository(repository, tag=image_tag),
            entry_point=["/bin/sh", "-c"],
            command=[STARTUP],
            user="10001:10001",
            readonly_root_filesystem=True,
            port_mappings=[ecs.PortMapping(container_port=PORT, name="http")],
            environment={
                **environment_variables,
                "API__MODEL_ALIAS": environment_alias(environment),
            },
            secrets=secrets,
            stop_timeout=cdk.Duration.seconds(40),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="api", log_group=log_group),
        )
        container.add_mount_points(
            ecs.MountPoint(source_volume="tmp", container_path="/tmp", read_only=False)  # noqa: S108
        )

        self.load_balancer_group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=vpc,
            description="Public load balancer of the API",
            allow_all_outbound=False,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=vpc,
            description="API tasks: traffic from the load balancer only",
        )
        self.security_group.add_ingress_rule(
            self.load_balancer_group, ec2.Port.tcp(PORT), "the load balancer to the API"
        )
        self.load_balancer_group.add_egress_rule(
            self.security_group, ec2.Port.tcp(PORT), "to the API tasks only"
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            security_group=self.load_balancer_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
        )
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            access_logs,
            "S1",
            "The load balancer's access-log bucket; logging it would loop.",
        )
        self.load_balancer.log_access_logs(access_logs, prefix="alb")
        https = bool(deployment.certificate_arn)
        listener = self.load_balancer.add_listener(
            "Listener",
            port=443 if https else 80,
            protocol=elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP,
            certificates=(
                [
                    acm.Certificate.from_certificate_arn(
                        self, "Certificate", deployment.certificate_arn
                    )
                ]
                if https
                else None
            ),
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS if https else None,
            # The rules are ours: the security group opens the listener port to the internet.
            open=False,
        )
        listener_port = 443 if https else 80
        self.load_balancer_group.add_ingress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(listener_port), "the public API"
        )
        if https:
            self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)
            self.load_balancer_group.add_ingress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "redirected to HTTPS"
            )
        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=service_name(project, "api"),
            cluster=cluster,
            task_definition=task,
            desired_count=deployment.desired_count,
            security_groups=[self.security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=cdk.Duration.seconds(120),
            min_healthy_percent=100,
            max_healthy_percent=200,
        )
        target_group = listener.add_targets(
            "Api",
            port=PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            deregistration_delay=cdk.Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_PATH,
                healthy_http_codes="200",
                interval=cdk.Duration.seconds(15),
                timeout=cdk.Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        self.alarms = self._add_rollback_alarms(project, environment, deployment, target_group)
        self.service.enable_deployment_alarms(
            [alarm.alarm_name for alarm in self.alarms],
            behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
        )
        scheme = "https" if https else "http"
        self.url = f"{scheme}://{self.load_balancer.load_balancer_dns_name}"
        if not https:
            acknowledge(
                self.load_balancer_group,
                "EC23",
                "The API's public load balancer: the one thing open to the "
                "internet, on its listener port only; prediction routes need X-API-Key.",
            )
        else:
            acknowledge(
                self.load_balancer_group,
                "EC23",
                "The API's public load balancer: 443, and 80 redirecting to it.",
            )

    def _add_rollback_alarms(
        self,
        project: str,
        environment: str,
        deployment: ApiDeployment,
        target_group: elbv2.ApplicationTargetGroup,
    ) -> list[cloudwatch.Alarm]:
        period = cdk.Duration.minutes(1)
        errors = target_group.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"
        )
        requests = target_group.metrics.request_count(period=period, statistic="Sum")
        error_rate = cloudwatch.MathExpression(
            expression="100 * FILL(errors, 0) / IF(requests > 0, requests, 1)",
            using_metrics={"errors": errors, "requests": requests},
            period=period,
            label="5xx share of requests (%)",
        )
        latency = target_group.metrics.target_response_time(period=period, statistic="p95")
        prefix = f"{project}-{environment}-api"
        return [
            cloudwatch.Alarm(
                self,
                "ErrorRateAlarm",
                alarm_name=f"{prefix}-5xx-rate",
                alarm_description=(
                    f"More than {deployment.max_5xx_percent}% of API requests answered 5xx "
                    "for 3 of 5 minutes: a deployment in progress is rolled back"
                ),
                metric=error_rate,
                threshold=deployment.max_5xx_percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "LatencyAlarm",
                alarm_name=f"{prefix}-p95-latency",
                alarm_description=(
                    f"API p95 latency above {deployment.max_p95_latency_seconds} s for 3 of "
                    "5 minutes: a deployment in progress is rolled back"
                ),
                metric=latency,
                threshold=deployment.max_p95_latency_seconds,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]


def environment_alias(environment: str) -> str:
    """The registry alias an environment serves: production serves @production, any other
    environment the candidate it smoke-tests (@staging)."""
    return PRODUCTION_ALIAS if environment == PRODUCTION_ALIAS else STAGING_ALIAS
