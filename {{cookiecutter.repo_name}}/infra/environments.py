"""What `make infra-deploy ENV=<name>` stands up in each environment: sizes and limits.

Only infra/ reads this. Fargate sizes are (cpu units, MiB) of Fargate's combinations.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_logs as logs

from src.names import EcsStep


@dataclass(frozen=True)
class Size:
    cpu: int
    memory_mib: int


@dataclass(frozen=True)
class Database:
    """RDS Postgres of the MLflow server."""

    instance_type: str = "t4g.micro"
    multi_az: bool = False
    deletion_protection: bool = False
    backup_retention_days: int = 7
    allocated_storage_gib: int = 20


# On AWS the transforms run in Athena, so the data steps hold a file or a batch at a time;
# training holds its training set (config/training.yaml's max_rows) and the model search;
# batch inference and the drift check hold a day or a window.
STEP_SIZES: Mapping[EcsStep, Size] = {
    "bronze": Size(1024, 4096), "silver": Size(512, 2048), "gold": Size(512, 2048),
    "training": Size(4096, 16384), "batch-inference": Size(2048, 8192),
    "drift-check": Size(2048, 8192),
}  # fmt: skip


@dataclass(frozen=True)
class Environment:
    """An environment's runtime; the defaults are staging's."""

    vpc_cidr: str = "10.20.0.0/16"
    # Empty: the stack creates the VPC; an id reuses it (the CDK CLI looks it up once).
    vpc_id: str = ""
    nat_gateways: int = 1
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    database: Database = Database()
    api: Size = Size(1024, 2048)
    api_desired_count: int = 1
    # A deployment whose 5xx share or p95 latency stays above these (3 of 5 minutes) while
    # it rolls out is rolled back.
    max_5xx_percent: float = 5
    max_p95_latency_seconds: float = 1.0
    # The API serves HTTPS only (HTTP redirects to it): set the API's domain, which ACM then
    # validates by DNS (the deploy waits for its CNAME record), and/or an ACM certificate ARN.
    domain_name: str = ""
    certificate_arn: str = ""
    # Requests one client IP may make in 5 minutes before the WAF blocks it; 0: no WAF.
    waf_rate_limit: int = 0
    mlflow: Size = Size(1024, 2048)
    # The one-off commands of the training image (the CD's train and promote, setup-lake).
    jobs: Size = Size(2048, 8192)
    steps: Mapping[EcsStep, Size] = field(default_factory=lambda: dict(STEP_SIZES))


ENVIRONMENTS: Mapping[str, Environment] = {
    "staging": Environment(),
    "production": Environment(
        vpc_cidr="10.30.0.0/16",
        nat_gateways=2,
        log_retention=logs.RetentionDays.THREE_MONTHS,
        database=Database("t4g.small", multi_az=True, deletion_protection=True,
                          backup_retention_days=14),
        api_desired_count=2,
        max_5xx_percent=2,
        max_p95_latency_seconds=0.5,
        waf_rate_limit=2000,
    ),
}  # fmt: skip


def bootstrap_qualifier(project: str, environment: str) -> str:
    """The CDK bootstrap of an environment (`make infra-bootstrap ENV=<name>`): each has its
    own CDK roles, so one environment's deploy role cannot deploy another's stacks. The
    shared stack holds production's lake and deploys with production's."""
    environment = "production" if environment == "shared" else environment
    return hashlib.sha256(f"{project}/{environment}".encode()).hexdigest()[:10]
