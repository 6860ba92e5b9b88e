"""Names the runtime (src/, the DAGs) and the AWS stacks (infra/) share: one place for each.

Standard library only (and src.errors): `python -m infra` synthesizes without the ML stack.
Tables are `<project>_<layer>_<name>`, so two projects sharing a Glue database never share
one; each heavy step is an ECS task definition `<project>-<environment>-<step>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from src.errors import ConfigError

if TYPE_CHECKING:
    from src.data.intervals import DataInterval
    from src.settings import Settings

REPO_NAME = "{{ cookiecutter.repo_name }}"
# The project's identity in the lake: table-name prefix and owner property value.
PROJECT = "{{ cookiecutter.repo_name|replace('-', '_') }}"
OWNER_PROPERTY = "project.owner"
PRODUCTION_ENVIRONMENT = "production"

# Registry aliases: staging holds the candidate, production what the API serves.
STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"

# Locks (src.data.aws_integration.hold_lock): promotion takes one.
LEASES_PREFIX = "leases"
PROMOTION_LEASE = "promotion"
# Models released by the CD from staging's registry to production's, named by their digest.
RELEASES_PREFIX = "releases"

EcsStep = Literal["bronze", "silver", "gold", "training", "batch-inference", "drift-check"]
ECS_STEPS: tuple[EcsStep, ...] = get_args(EcsStep)
CONTAINER_NAME = "step"  # in each step's task definition, and its awslogs stream prefix
LOG_STREAM_PREFIX = CONTAINER_NAME


def table_name(layer: str, name: str) -> str:
    return f"{PROJECT}_{layer}_{name}"


def bronze_table(dataset: str) -> str:
    return table_name("bronze", dataset)


def silver_table(dataset: str) -> str:
    return table_name("silver", dataset)


def quarantine_table(dataset: str) -> str:
    return table_name("quarantine", dataset)


def gold_table(feature_view: str) -> str:
    return table_name("gold", feature_view)


PREDICTIONS_TABLE = table_name("monitoring", "predictions")
LABELS_TABLE = table_name("monitoring", "labels")


def release_key(model_name: str, digest: str) -> str:
    return f"{RELEASES_PREFIX}/{model_name}/{digest.removeprefix('sha256:')}"


def environment_name(name: str, environment: str, separator: str = "-") -> str:
    """A resource of a deployment environment (its bucket, Athena workgroup, database):
    production's own name, any other environment's suffixed with it."""
    if environment == PRODUCTION_ENVIRONMENT:
        return name
    return f"{name}{separator}{environment}"


def environment_database(database: str, environment: str) -> str:
    return environment_name(database, environment, "_")


def database_prefix(settings: Settings) -> str:
    """Where the Glue database keeps its tables: `<warehouse>/<database>.db`."""
    return f"{settings.aws.s3.warehouse_prefix}/{settings.lake_database}.db"


def database_location(settings: Settings) -> str:
    return f"s3://{settings.aws.s3.bucket}/{database_prefix(settings)}"


def batch_files_prefix(processed_prefix: str) -> str:  # batch inference's daily Parquet files
    return f"{processed_prefix}/predictions"


def parse_step(name: str) -> EcsStep:
    """A step name from the command line; anything else is a ConfigError naming the choices."""
    if name not in ECS_STEPS:
        raise ConfigError(f"unknown step {name!r}; choose one of {', '.join(ECS_STEPS)}")
    return name


def task_family(project: str, environment: str, task: str) -> str:
    """`<project>-<environment>-<task>`: every ECS task definition family of the project."""
    return f"{project}-{environment}-{task}"


def task_definition_family(step: EcsStep, environment: str, repo_name: str = REPO_NAME) -> str:
    parse_step(step)
    if not environment or not environment.replace("-", "").isalnum():
        raise ConfigError(f"environment {environment!r} must be letters, digits and dashes")
    return task_family(repo_name, environment, step)


def cluster_name(project: str, environment: str) -> str:
    return f"{project}-{environment}"


def log_group_name(project: str, environment: str) -> str:
    return f"/ecs/{project}/{environment}"


def result_key(runs_prefix: str, flow_id: str, run_id: str, step_id: str) -> str:
    """Object store key of the JSON result a step's container writes for one run."""
    # Run ids hold ':' and '+' (manual__2025-01-01T00:00:00+00:00): keep keys plain.
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{runs_prefix}/{flow_id}/{safe_run}/{step_id}.json"


def container_command(
    step: EcsStep, interval: DataInterval, result: str, reason: str | None = None
) -> list[str]:
    """The command override of a step's container: the CLI's arguments behind the training
    image's ENTRYPOINT `python -m src` (an ECS override replaces only its CMD)."""
    command = ["step", step, "--start", interval.start.isoformat()]
    command += ["--end", interval.end.isoformat(), "--result-key", result]
    return [*command, "--reason", reason] if reason else command
