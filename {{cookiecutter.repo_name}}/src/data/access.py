"""What each ECS task of the project touches on AWS: the one source of its IAM role.

The CDK stacks (infra/) turn these declarations into the task roles, and tests check them
against what the code uses. Every name comes from the settings (bucket, prefixes, database,
workgroup) and from `src.data.tables`, never from a second list of strings.

- `api` serves predictions and appends them to the predictions table;
- `jobs` (the training image: data pipeline, training, batch inference, drift check,
  promotion) reads and writes the whole lake and queries it with Athena;
- `mlflow` is the tracking server: its artifact prefix only (clients go through it).

No task may create the Glue database: the stack creates it (`Lake.ensure_database` only
creates it where it is missing, as on a laptop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from src.data.tables import PREDICTIONS_TABLE

if TYPE_CHECKING:
    from src.settings import Settings

# What PyIceberg's Glue catalog calls: load (GetTable), list (GetTables), create, commit
# (UpdateTable), and the namespace check before a create (GetDatabase).
GLUE_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetTables")
GLUE_WRITE_ACTIONS = ("glue:CreateTable", "glue:UpdateTable")
ATHENA_QUERY_ACTIONS = (
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
)
S3_READ_WRITE_ACTIONS = ("s3:GetObject", "s3:PutObject")
S3_DELETE_ACTIONS = ("s3:DeleteObject",)

ALL_TABLES = "*"


@dataclass(frozen=True)
class TaskAccess:
    """One task's reach: bucket prefixes it reads and writes, tables, the Athena workgroup."""

    task: str
    description: str
    bucket: str
    # Prefixes without a trailing slash; the role covers the objects below each.
    prefixes: tuple[str, ...]
    may_delete_objects: bool = False
    database: str | None = None
    # Table names, or ALL_TABLES for every table of the database.
    tables: tuple[str, ...] = ()
    writes_tables: bool = False
    athena_workgroup: str | None = None

    @property
    def s3_object_actions(self) -> tuple[str, ...]:
        extra = S3_DELETE_ACTIONS if self.may_delete_objects else ()
        return tuple(sorted((*S3_READ_WRITE_ACTIONS, *extra)))

    @property
    def glue_actions(self) -> tuple[str, ...]:
        if not self.tables:
            return ()
        extra = GLUE_WRITE_ACTIONS if self.writes_tables else ()
        return tuple(sorted((*GLUE_READ_ACTIONS, *extra)))


def database_prefix(settings: Settings) -> str:
    """Where the Glue database keeps its tables: `<warehouse>/<database>.db`."""
    return f"{settings.aws.s3.warehouse_prefix}/{settings.lake_database}.db"


def database_location(settings: Settings) -> str:
    return f"s3://{settings.aws.s3.bucket}/{database_prefix(settings)}"


def table_prefix(settings: Settings, table: str) -> str:
    """A table's data and metadata: the Glue catalog puts it under the database location."""
    return f"{database_prefix(settings)}/{table}"


def describe_task_access(settings: Settings) -> dict[str, TaskAccess]:
    """Every ECS task of the project, by name (the key is the role's and container's name)."""
    s3 = settings.aws.s3
    athena = settings.aws.athena
    tasks = [
        TaskAccess(
            task="api",
            description="serves predictions and logs them to the predictions table",
            bucket=s3.bucket,
            prefixes=(table_prefix(settings, PREDICTIONS_TABLE),),
            database=settings.lake_database,
            tables=(PREDICTIONS_TABLE,),
            writes_tables=True,
        ),
        TaskAccess(
            task="jobs",
            description="data pipeline, training, batch inference, drift check, promotion",
            bucket=s3.bucket,
            prefixes=(
                s3.raw_prefix,
                s3.processed_prefix,
                s3.warehouse_prefix,
                s3.artifacts_prefix,
                s3.athena_results_prefix,
                s3.quality_prefix,
            ),
            may_delete_objects=True,
            database=settings.lake_database,
            tables=(ALL_TABLES,),
            writes_tables=True,
            athena_workgroup=athena.workgroup,
        ),
        TaskAccess(
            task="mlflow",
            description="the MLflow tracking server's artifact store",
            bucket=s3.bucket,
            prefixes=(s3.mlflow_artifacts_prefix,),
            may_delete_objects=True,
        ),
    ]
    return {task.task: task for task in tasks}
