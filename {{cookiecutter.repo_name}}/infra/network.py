"""The environment's VPC: public subnets for the load balancer only, private ones for the
tasks (out through NAT), isolated ones for the database; flow logs on."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.log_groups import build_log_group
from src.settings import EnvironmentDeployment


class Network(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: EnvironmentDeployment
    ) -> None:
        super().__init__(scope, construct_id)
        if deployment.vpc_id:
            # A lookup: the CDK CLI resolves it once and keeps it in cdk.context.json.
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=deployment.vpc_id)
            return
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(deployment.vpc_cidr),
            max_azs=2,
            nat_gateways=deployment.nat_gateways,
            # No custom resource (a Lambda) to strip the default group: nothing uses it.
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="database", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=26
                ),
            ],
        )
        flow_logs = build_log_group(self, "FlowLogs", deployment.log_retention_days)
        flow_role = iam.Role(
            self, "FlowLogsRole", assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com")
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_role),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.vpc = vpc
