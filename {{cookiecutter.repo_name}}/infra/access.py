"""Who may touch what on AWS: each ECS task's role, the orchestrator's launch policy and
each environment's CloudFormation execution policy, from the settings and `src.names`. A
heavy step reaches only its own tables and prefixes, only SQL steps use Athena, no task may
create the Glue database (tests/integration/test_step_access.py checks every call a step makes)."""

import json
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import yaml
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.environments import bootstrap_qualifier
from infra.nag import acknowledge_wildcards
from src import names
from src.settings import FEATURES_FILE, Settings

# What PyIceberg's Glue catalog (and Athena, reading the catalog as the caller) calls.
GLUE_READ = ["glue:GetDatabase", "glue:GetTable"]
GLUE_WRITE = ["glue:CreateTable", "glue:UpdateTable"]
ATHENA_QUERY = [f"athena:{action}" for action in ("GetQueryExecution", "GetQueryResults",
                "GetWorkGroup", "StartQueryExecution", "StopQueryExecution")]  # fmt: skip
ALL_TABLES = "*"
ECS_TASKS = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class Reach:
    """One task's reach: tables it loads and commits, bucket prefixes it reads, writes
    (never reading back: reports, results) and owns (reads, writes, deletes: leases)."""

    description: str
    reads_tables: tuple[str, ...] = ()
    writes_tables: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    owns: tuple[str, ...] = ()
    athena: bool = False  # runs SQL: Athena reads and writes as the caller, keeps results
    # S3 answers a read of a missing key (PyIceberg checks a metadata file is absent before
    # writing it) with 404 only to a caller that may list the bucket, without s3:prefix.
    lists_bucket: bool = False


def environment_settings(settings: Settings, environment: str) -> Settings:
    """The settings an environment's tasks run with: its own bucket, Athena workgroup and
    database (production's are the configured ones), so no role of one reaches another's."""
    aws = settings.aws.model_copy(deep=True)
    aws.s3.bucket = names.environment_name(aws.s3.bucket, environment)
    aws.athena.workgroup = names.environment_name(aws.athena.workgroup, environment)
    return settings.model_copy(update={"aws": aws, "deployment_environment": environment})


def read_feature_view() -> tuple[str, str]:
    """(dataset, gold table) of config/features.yaml."""
    view = yaml.safe_load(FEATURES_FILE.read_text())
    return str(view["dataset"]), names.gold_table(str(view["name"]))


def describe_tasks(settings: Settings) -> dict[str, Reach]:
    """Every ECS task of an environment by name (its role is `<project>-<env>-<name>-task`)."""
    s3 = settings.aws.s3
    dataset, gold = read_feature_view()
    bronze, silver = names.bronze_table(dataset), names.silver_table(dataset)
    predictions, runs = names.PREDICTIONS_TABLE, s3.runs_prefix
    # Quality reports (`<quality>/<dataset>/<step>/...`) and bronze's refused raw files.
    quality = f"{s3.quality_prefix}/{dataset}"
    # Training moves `production` under the promotion lock (a lease object in the bucket).
    promotion = f"{names.LEASES_PREFIX}/{names.PROMOTION_LEASE}"
    lake = (s3.raw_prefix, s3.processed_prefix, s3.warehouse_prefix, s3.artifacts_prefix,
            s3.athena_results_prefix, s3.quality_prefix, names.LEASES_PREFIX,
            names.RELEASES_PREFIX)  # fmt: skip
    return {
        "bronze": Reach("raw files into bronze", reads_tables=(bronze,), writes_tables=(bronze,),
                        reads=(f"{s3.raw_prefix}/{dataset}",), writes=(quality, runs), athena=True),
        "silver": Reach("bronze to silver and quarantine", reads_tables=(bronze,),
                        writes_tables=(silver, names.quarantine_table(dataset)),
                        writes=(quality, runs), athena=True),
        "gold": Reach("silver to gold", reads_tables=(silver,), writes_tables=(gold,),
                      writes=(runs,), athena=True),
        # Runs, models and references go through the MLflow server, which holds the artifacts.
        "training": Reach("the training set from gold", reads_tables=(gold,), writes=(runs,),
                          owns=(promotion,), athena=True),
        "batch-inference": Reach("a day of gold into predictions", reads_tables=(gold,),
                                 writes_tables=(predictions,),
                                 writes=(names.batch_files_prefix(s3.processed_prefix), runs)),
        "drift-check": Reach("predictions and labels", reads_tables=(predictions,
                             names.LABELS_TABLE), writes=(runs,)),
        "api": Reach("logs predictions", reads_tables=(predictions,), writes_tables=(predictions,)),
        "jobs": Reach("setup-lake, train, promote, maintenance, labels", reads_tables=(ALL_TABLES,),
                      writes_tables=(ALL_TABLES,), owns=lake, athena=True),
        "mlflow": Reach("the MLflow server's artifacts", owns=(s3.mlflow_artifacts_prefix,)),
        # Not a task: what the DAGs' own tasks read when the steps run on ECS (whether a
        # day was blocked, gold's and the predictions' metadata, each step's result).
        "orchestrator": Reach("the DAGs' sensors and checks", reads_tables=(gold, predictions),
                              reads=(quality, runs), lists_bucket=True),
    }  # fmt: skip


def allow(actions: list[str], resources: list[str], **conditions: Any) -> iam.PolicyStatement:
    """An Allow statement; each keyword is a condition operator (`StringEquals={...}`)."""
    return iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions or None)


def arn(scope: Construct, service: str, resource: str) -> str:
    stack = cdk.Stack.of(scope)
    return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}"


def build_statements(
    scope: Construct, reach: Reach, settings: Settings
) -> list[iam.PolicyStatement]:
    s3, database = settings.aws.s3, settings.lake_database

    def located(tables: tuple[str, ...]) -> tuple[str, ...]:
        # Iceberg commits read the current metadata, write files and delete old metadata.
        return tuple(f"{names.database_prefix(settings)}/{t}" for t in tables if t != ALL_TABLES)

    results = (s3.athena_results_prefix,) if reach.athena else ()
    owned = (*located(reach.writes_tables), *reach.owns)
    grants = {
        "s3:GetObject": (*reach.reads, *located(reach.reads_tables), *owned, *results),
        "s3:PutObject": (*reach.writes, *owned, *results),
        "s3:DeleteObject": owned,
    }
    bucket = f"arn:{cdk.Stack.of(scope).partition}:s3:::{s3.bucket}"
    prefixes = sorted({prefix for below in grants.values() for prefix in below})
    listed = {"StringLike": {"s3:prefix": [p for x in prefixes for p in (x, f"{x}/*")]}}
    whole = reach.lists_bucket or bool(reach.writes_tables)
    statements = [allow(["s3:ListBucket"], [bucket], **({} if whole else listed))]
    for action, below in grants.items():
        if below:
            statements.append(allow([action], [f"{bucket}/{p}/*" for p in dict.fromkeys(below)]))
    catalog = [arn(scope, "glue", "catalog"), arn(scope, "glue", f"database/{database}")]

    def tables(names: tuple[str, ...]) -> list[str]:
        return [*catalog, *(arn(scope, "glue", f"table/{database}/{name}") for name in names)]

    loaded = tuple(sorted({*reach.reads_tables, *reach.writes_tables}))
    if loaded:
        listing = ["glue:GetTables"] if ALL_TABLES in loaded else []
        statements.append(allow(GLUE_READ + listing, tables(loaded)))
    if reach.writes_tables:
        statements.append(allow(GLUE_WRITE, tables(reach.writes_tables)))
    if reach.athena:
        workgroup = arn(scope, "athena", f"workgroup/{settings.aws.athena.workgroup}")
        # Athena checks the region of the bucket it writes results to.
        statements += [allow(ATHENA_QUERY, [workgroup]), allow(["s3:GetBucketLocation"], [bucket])]
    return statements


def release_statements(scope: Construct, settings: Settings) -> list[iam.PolicyStatement]:
    """Production's jobs task reads what staging exported (`promote --release`), nothing else."""
    staging = names.environment_name(settings.aws.s3.bucket, "staging")
    bucket = f"arn:{cdk.Stack.of(scope).partition}:s3:::{staging}"
    prefix = f"{names.RELEASES_PREFIX}/*"
    return [allow(["s3:ListBucket"], [bucket], StringLike={"s3:prefix": [prefix]}),
            allow(["s3:GetObject"], [f"{bucket}/{prefix}"])]  # fmt: skip


def ecs_tasks_principal() -> iam.IPrincipal:
    """ECS tasks of this account only (the confused-deputy guard)."""
    return iam.ServicePrincipal(ECS_TASKS).with_conditions(
        {"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}
    )


def construct_name(name: str) -> str:
    """`batch-inference` -> `BatchInference`."""
    return "".join(part.capitalize() for part in name.split("-"))


def build_task_roles(scope: Construct, settings: Settings, prefix: str) -> dict[str, iam.Role]:
    """One role per task of `describe_tasks`, named `<prefix>-<task>-task`."""
    roles = {}
    for name, reach in describe_tasks(settings).items():
        if name == "orchestrator":
            continue
        statements = build_statements(scope, reach, settings)
        if name == "jobs" and settings.deployment_environment == names.PRODUCTION_ENVIRONMENT:
            statements += release_statements(scope, settings)
        roles[name] = role = iam.Role(
            scope, f"{construct_name(name)}TaskRole", role_name=f"{prefix}-{name}-task",
            description=f"ECS task role of {name}: {reach.description}",
            assumed_by=ecs_tasks_principal(),
            inline_policies={"access": iam.PolicyDocument(statements=statements)},
        )  # fmt: skip
        acknowledge_wildcards(
            role, statements, "Objects below the task's own prefixes (keys are made at run "
            "time); for jobs, every table of the project's database (they come as data lands).",
        )  # fmt: skip
    return roles


def build_launch_policy(
    scope: Construct, settings: Settings, project: str, environment: str, roles: list[iam.Role]
) -> iam.ManagedPolicy:
    """What the orchestrator needs when the heavy steps run as ECS tasks: run the step task
    definitions in this cluster only, hand exactly their roles to ECS, watch, stop and
    reattach to the tasks, read their log streams, and read what the DAGs' own tasks read."""
    cluster = names.cluster_name(project, environment)
    on_the_cluster = {"ecs:cluster": arn(scope, "ecs", f"cluster/{cluster}")}
    group = names.log_group_name(project, environment)
    logs = f"log-group:{group}:log-stream:{names.LOG_STREAM_PREFIX}/*"
    families = [names.task_family(project, environment, step) for step in names.ECS_STEPS]
    statements = [
        allow(["ecs:RunTask"], [arn(scope, "ecs", f"task-definition/{f}:*") for f in families],
              ArnEquals=on_the_cluster),
        # ListTasks (reattaching by startedBy) is authorized on the container instances.
        allow(["ecs:ListTasks"], [arn(scope, "ecs", f"container-instance/{cluster}/*")],
              ArnEquals=on_the_cluster),
        allow(["ecs:DescribeTasks", "ecs:StopTask"], [arn(scope, "ecs", f"task/{cluster}/*")]),
        allow(["logs:GetLogEvents"], [arn(scope, "logs", logs)]),
        allow(["iam:PassRole"], [role.role_arn for role in roles],
              StringEquals={"iam:PassedToService": ECS_TASKS}),
        *build_statements(scope, describe_tasks(settings)["orchestrator"], settings),
    ]  # fmt: skip
    policy = iam.ManagedPolicy(
        scope, "LaunchStepsPolicy", managed_policy_name=f"{project}-{environment}-launch-steps",
        description=f"Launch the heavy steps of {project} {environment} as ECS tasks",
        statements=statements,
    )  # fmt: skip
    acknowledge_wildcards(
        policy, statements, "Revisions of the steps' task definitions, task ids and log "
        "streams made at run time in the environment's cluster; objects below its prefixes.",
    )  # fmt: skip
    return policy


# The CloudFormation execution policy of an environment's CDK bootstrap (`make
# infra-bootstrap`), instead of the default AdministratorAccess: the environment's own roles,
# policies, buckets, database, workgroup and secrets; the network and compute services
# (VPC, ECS, load balancing, RDS, logs, alarms, DNS, WAF, certificates) service-wide, their
# resources having generated names. Production's also deploys the shared stack.
SERVICE_WIDE = ["acm", "cloudwatch", "ec2", "ecs", "elasticloadbalancing", "logs", "rds",
                "route53", "servicediscovery", "wafv2"]  # fmt: skip


def execution_policy(settings: Settings, environment: str) -> dict[str, Any]:
    production = environment == names.PRODUCTION_ENVIRONMENT
    own = environment_settings(settings, environment)
    bucket, database = own.aws.s3.bucket, own.lake_database
    # CloudFormation names what it creates `<stack>-<id>-<random>` (the access-log buckets).
    stacks = names.REPO_NAME if production else f"{names.REPO_NAME}-{environment}"
    buckets = [bucket, f"{bucket}-access-logs", f"{stacks}-*"]
    secrets = f"{names.REPO_NAME}/{environment}/*"
    qualifier = bootstrap_qualifier(names.REPO_NAME, environment)
    grants = [
        ([f"{service}:*" for service in SERVICE_WIDE], ["*"]),
        (["iam:*"], [f"arn:aws:iam::*:{kind}/{stacks}-*" for kind in ("role", "policy")]),
        (["iam:CreateServiceLinkedRole", "secretsmanager:GetRandomPassword"], ["*"]),
        (["s3:*"], [f"arn:aws:s3:::{name}{tail}" for name in buckets for tail in ("", "/*")]),
        (["glue:*"], [f"arn:aws:glue:*:*:{name}" for name in
                      ("catalog", f"database/{database}", f"table/{database}/*")]),
        (["athena:*"], [f"arn:aws:athena:*:*:workgroup/{own.aws.athena.workgroup}"]),
        (["secretsmanager:*"], [f"arn:aws:secretsmanager:*:*:secret:{secrets}"]),
        (["ssm:GetParameter", "ssm:GetParameters"],
         [f"arn:aws:ssm:*:*:parameter/cdk-bootstrap/{qualifier}/*"]),
    ]  # fmt: skip
    if production:  # the shared stack's image repositories{% if cookiecutter.ci_provider == "github" %} and GitHub's way in{% endif %}
        grants.append((["ecr:*"], [f"arn:aws:ecr:*:*:repository/{names.REPO_NAME}/*"]))
{%- if cookiecutter.ci_provider == "github" %}
        github = "arn:aws:iam::*:oidc-provider/token.actions.githubusercontent.com"
        grants.append((["iam:*"], [github]))
{%- endif %}
    statements = [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in grants]
    return {"Version": "2012-10-17", "Statement": statements}


def describe_bootstrap(settings: Settings, environment: str) -> str:
    """JSON: the environment's qualifier, toolkit stack and execution policy."""
    if environment == "shared":
        environment = names.PRODUCTION_ENVIRONMENT
    prefix = f"{names.REPO_NAME}-{environment}"
    return json.dumps({"qualifier": bootstrap_qualifier(names.REPO_NAME, environment),
                       "toolkit_stack": f"{prefix}-cdk", "policy_name": f"{prefix}-cdk-execution",
                       "policy": execution_policy(settings, environment)})  # fmt: skip
