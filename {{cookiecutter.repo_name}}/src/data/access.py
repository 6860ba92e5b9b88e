"""What each ECS task of the project touches on AWS: the one source of its IAM role.

The CDK stacks (infra/) turn these declarations into the task roles, and tests check them
against what the code uses (tests/integration/test_step_access.py runs every step against
moto and checks each call it makes against the synthesized role). Every name comes from
the settings (bucket, prefixes, database, workgroup), `src.data.tables` (table names),
`src.data.leases` (lease names) and `src.orchestration` (steps, where results go), never
from a second list of strings.

- one task per heavy step of `src.orchestration.ECS_STEPS`, each with only its own reach:
  the tables it reads and writes, the raw, quality, prediction, lease and result prefixes
  it uses, and the Athena workgroup where it runs SQL;
- `api` serves predictions and appends them to the predictions table;
- `jobs` (the training image's one-off commands that the CD and an operator run:
  setup-lake, train, promote, lake maintenance, labels) reads and writes the whole lake;
- `mlflow` is the tracking server: its artifact prefix only (clients go through it, so no
  other task touches the model artifacts in S3).

No task may create the Glue database: the stack creates it (`Lake.ensure_database` only
creates it where it is missing, as on a laptop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from src.data.predictions import batch_files_prefix
from src.data.tables import (
    LABELS_TABLE,
    PREDICTIONS_TABLE,
    bronze_table,
    quarantine_table,
    silver_table,
)
from src.orchestration import ECS_STEPS, EcsStep

if TYPE_CHECKING:
    from src.data.feature_store import FeatureView
    from src.settings import Settings

# What PyIceberg's Glue catalog (and Athena, which reads the catalog as the caller) calls:
# the namespace check (GetDatabase) and loading a table (GetTable); create and commit
# (CreateTable, UpdateTable) for the tables a task writes; listing (GetTables) only for the
# task that works on every table.
GLUE_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable")
GLUE_LIST_ACTIONS = ("glue:GetTables",)
GLUE_WRITE_ACTIONS = ("glue:CreateTable", "glue:UpdateTable")
ATHENA_QUERY_ACTIONS = (
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
)

ALL_TABLES = "*"
# Locks in the bucket (src.data.aws_integration.hold_lock): only promotion takes one.
LEASES_PREFIX = "locks"
PROMOTION_LEASE = "promotion"
DATA_PIPELINE_LEASE = BATCH_INFERENCE_LEASE = PROMOTION_LEASE

# Steps that run SQL in the project's Athena workgroup on AWS: the medallion transforms and
# the training set's point-in-time retrieval. Athena reads and writes the tables' files
# with the caller's permissions, so these also reach the tables' prefixes and the results.
ATHENA_STEPS: frozenset[EcsStep] = frozenset({"bronze", "silver", "gold", "training"})


@dataclass(frozen=True)
class TaskAccess:
    """One task's reach: bucket prefixes it reads, writes and deletes in, tables, workgroup.

    Prefixes have no trailing slash; a grant covers the objects below each.
    """

    task: str
    description: str
    bucket: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    deletes: tuple[str, ...] = ()
    database: str | None = None
    # Table names, or ALL_TABLES for every table of the database.
    reads_tables: tuple[str, ...] = ()
    writes_tables: tuple[str, ...] = ()
    athena_workgroup: str | None = None
    # Reads keys that may be missing (`ObjectStore.exists`), which needs S3's 404.
    checks_missing_keys: bool = False

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Every prefix the task lists (any it reads, writes or deletes in)."""
        return tuple(sorted({*self.reads, *self.writes, *self.deletes}))

    @property
    def lists_whole_bucket(self) -> bool:
        """Whether the task lists the bucket without a prefix condition.

        PyIceberg (through PyArrow) checks that a metadata file is absent before it writes
        one; S3 answers that read with 404 only to a caller that may list the bucket, and a
        listing limited by s3:prefix does not count, since the read carries no prefix. A
        403 there fails the commit, so every task that writes tables lists the bucket (key
        names only: what it may read or write is still limited by prefix).
        """
        return bool(self.writes_tables) or self.checks_missing_keys

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the task loads (those it writes it loads first)."""
        return tuple(sorted({*self.reads_tables, *self.writes_tables}))

    @property
    def glue_read_actions(self) -> tuple[str, ...]:
        if not self.tables:
            return ()
        extra = GLUE_LIST_ACTIONS if ALL_TABLES in self.tables else ()
        return tuple(sorted((*GLUE_READ_ACTIONS, *extra)))

    @property
    def glue_write_actions(self) -> tuple[str, ...]:
        return tuple(sorted(GLUE_WRITE_ACTIONS)) if self.writes_tables else ()


def database_prefix(settings: Settings) -> str:
    """Where the Glue database keeps its tables: `<warehouse>/<database>.db`."""
    return f"{settings.aws.s3.warehouse_prefix}/{settings.lake_database}.db"


def database_location(settings: Settings) -> str:
    return f"s3://{settings.aws.s3.bucket}/{database_prefix(settings)}"


def table_prefix(settings: Settings, table: str) -> str:
    """A table's data and metadata: the Glue catalog puts it under the database location."""
    return f"{database_prefix(settings)}/{table}"


def lease_prefix(name: str) -> str:
    """Every scope of one lease (`src.data.leases.lease_scope_prefix`)."""
    return f"{LEASES_PREFIX}/{name}"


@dataclass(frozen=True)
class StepReach:
    """What one step touches, before it becomes prefixes: tables, objects, leases."""

    description: str
    reads_tables: tuple[str, ...] = ()
    writes_tables: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    # Objects it writes and never reads back (quality reports, prediction files).
    writes: tuple[str, ...] = ()
    leases: tuple[str, ...] = ()


def describe_step_reach(settings: Settings, view: FeatureView) -> dict[EcsStep, StepReach]:
    """Each heavy step's reach, read from its code (src/pipelines/steps.py and below)."""
    s3 = settings.aws.s3
    dataset = view.dataset
    bronze, silver = bronze_table(dataset), silver_table(dataset)
    # Quality reports (`<quality>/<dataset>/<step>/...`) and, from bronze, refused raw
    # files copied whole (`<quality>/<dataset>/refused/...`).
    quality = f"{s3.quality_prefix}/{dataset}"
    reach: dict[EcsStep, StepReach] = {
        "bronze": StepReach(
            "new raw files into the bronze table; refused files and reports under quality",
            reads_tables=(bronze,),
            writes_tables=(bronze,),
            reads=(f"{s3.raw_prefix}/{dataset}",),
            writes=(quality,),
            leases=(DATA_PIPELINE_LEASE,),
        ),
        "silver": StepReach(
            "bronze to silver; rejected rows to quarantine; the quality report",
            reads_tables=(bronze,),
            writes_tables=(silver, quarantine_table(dataset)),
            writes=(quality,),
            leases=(DATA_PIPELINE_LEASE,),
        ),
        "gold": StepReach(
            "silver to the gold feature table",
            reads_tables=(silver,),
            writes_tables=(view.table,),
            leases=(DATA_PIPELINE_LEASE,),
        ),
        "training": StepReach(
            # Runs, models and the drift reference go to the MLflow server, which proxies
            # the artifacts (infra/mlflow_server.py): the task never touches them in S3.
            "the training set from gold, then the six training steps through MLflow",
            reads_tables=(view.table,),
            leases=(PROMOTION_LEASE,),
        ),
        "batch-inference": StepReach(
            "a day of gold scored by the production model into the predictions table",
            reads_tables=(view.table,),
            writes_tables=(PREDICTIONS_TABLE,),
            writes=(batch_files_prefix(s3.processed_prefix),),
            leases=(BATCH_INFERENCE_LEASE,),
        ),
        "drift-check": StepReach(
            # The reference comes from MLflow; reports stay in the task, metrics and alerts
            # go to the Pushgateway and the webhook, none of them AWS.
            "the predictions window and its labels against the model's reference",
            reads_tables=(PREDICTIONS_TABLE, LABELS_TABLE),
        ),
    }
    if set(reach) != set(ECS_STEPS):
        raise AssertionError(f"steps without a reach: {set(ECS_STEPS) ^ set(reach)}")
    return reach


def describe_step_access(settings: Settings, step: EcsStep, reach: StepReach) -> TaskAccess:
    """A step's reach as bucket prefixes: tables by their location, leases, its result."""
    s3 = settings.aws.s3
    read_tables = [table_prefix(settings, table) for table in reach.reads_tables]
    written_tables = [table_prefix(settings, table) for table in reach.writes_tables]
    leases = [lease_prefix(name) for name in reach.leases]
    # Athena writes the results as the caller; PyAthena reads them back.
    athena = [s3.athena_results_prefix] if step in ATHENA_STEPS else []
    # Iceberg commits read the current metadata, write new files and delete old metadata
    # (METADATA_PROPERTIES of src/data/lake.py); a lease is read, created and released.
    return TaskAccess(
        task=step,
        description=reach.description,
        bucket=s3.bucket,
        reads=_unique(*reach.reads, *read_tables, *written_tables, *leases, *athena),
        # The step's JSON result for the run that launched it (src.orchestration.result_key).
        writes=_unique(*reach.writes, *written_tables, *leases, *athena, s3.runs_prefix),
        deletes=_unique(*written_tables, *leases),
        database=settings.lake_database,
        reads_tables=reach.reads_tables,
        writes_tables=reach.writes_tables,
        athena_workgroup=settings.aws.athena.workgroup if step in ATHENA_STEPS else None,
    )


def describe_task_access(settings: Settings, view: FeatureView) -> dict[str, TaskAccess]:
    """Every ECS task of the project, by name (the key is the role's name: `<env>-<key>-task`)."""
    s3 = settings.aws.s3
    predictions = table_prefix(settings, PREDICTIONS_TABLE)
    lake = (
        s3.raw_prefix,
        s3.processed_prefix,
        s3.warehouse_prefix,
        s3.artifacts_prefix,
        s3.athena_results_prefix,
        s3.quality_prefix,
        LEASES_PREFIX,
    )
    tasks = [
        describe_step_access(settings, step, reach)
        for step, reach in describe_step_reach(settings, view).items()
    ]
    tasks += [
        TaskAccess(
            task="api",
            description="serves predictions and logs them to the predictions table",
            bucket=s3.bucket,
            reads=(predictions,),
            writes=(predictions,),
            deletes=(predictions,),
            database=settings.lake_database,
            reads_tables=(PREDICTIONS_TABLE,),
            writes_tables=(PREDICTIONS_TABLE,),
        ),
        TaskAccess(
            task="jobs",
            description="one-off commands: setup-lake, train, promote, maintenance, labels",
            bucket=s3.bucket,
            reads=lake,
            writes=lake,
            deletes=lake,
            database=settings.lake_database,
            reads_tables=(ALL_TABLES,),
            writes_tables=(ALL_TABLES,),
            athena_workgroup=settings.aws.athena.workgroup,
        ),
        TaskAccess(
            task="mlflow",
            description="the MLflow tracking server's artifact store",
            bucket=s3.bucket,
            reads=(s3.mlflow_artifacts_prefix,),
            writes=(s3.mlflow_artifacts_prefix,),
            deletes=(s3.mlflow_artifacts_prefix,),
        ),
    ]
    return {task.task: task for task in tasks}


def describe_orchestrator_access(settings: Settings, view: FeatureView) -> TaskAccess:
    """What the orchestrator's own tasks read when the heavy steps run on ECS.

    The DAGs' sensors and checks run in the Airflow worker: whether the data pipeline of
    a day was blocked (its quality reports), the gold rows of a day and the latest
    partition (table metadata), the predictions of a window (metadata), and each step's
    result under the runs prefix. Lake maintenance is not among them: it works on every
    table, so run it as the jobs task where Airflow holds only this reach.
    """
    s3 = settings.aws.s3
    tables = (view.table, PREDICTIONS_TABLE)
    located = tuple(table_prefix(settings, table) for table in tables)
    return TaskAccess(
        task="orchestrator",
        description="the DAGs' sensors and checks, and the results of the steps",
        bucket=s3.bucket,
        reads=(f"{s3.quality_prefix}/{view.dataset}", *located, s3.runs_prefix),
        database=settings.lake_database,
        reads_tables=tables,
        checks_missing_keys=True,
    )


def _unique(*prefixes: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(prefixes))
