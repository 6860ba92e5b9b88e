"""Each heavy step, run against moto as its ECS task runs it, needs only what its role grants.

The steps run in order through the CLI's `step` command (what the container runs), with
APP_ENV=aws pointed at a recording proxy in front of moto's server (tests/iam_access.py):
every S3, Glue and Athena request any client makes (boto3, PyIceberg's Glue catalog,
PyArrow's S3 client under PyIceberg, PyAthena) is recorded, turned into the IAM actions and
ARNs AWS authorizes, and checked against the role the synthesized production stack gives
the task definition of that step's family (`src.orchestration.task_definition_family`).
Athena's own reads and writes as the caller come from the query text and the catalog's
table locations (moto runs no SQL); a query test covers them below.

MLflow is the local SQLite stand-in for the tracking server here: on AWS the clients reach
the server over HTTP and it proxies the artifacts, so no step's role covers them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import boto3
import pytest
from src.data.aws_resources import ensure_aws_resources
from src.data.intervals import DataInterval
from src.data.sample_data import SAMPLE_DAYS, land_sample_files
from typer.testing import CliRunner

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.lake import DuckDbEngine, Lake, build_lake, interval_predicate
from src.data.quality import build_silver_queries
from src.data.tables import bronze_table
from src.orchestration import ECS_STEPS, EcsStep, result_key, task_definition_family
from src.pipelines.DE.bronze import is_raw_data_file, raw_prefix_for_day
from src.pipelines.DE.silver import quarantine_schema
from src.settings import Settings
from tests.conftest import (
    FAKE_AWS_ENV,
    SAMPLE_END,
    Answer,
    free_port,
    isolated_settings,
    moto_api,
    queue_athena_results,
)
from tests.iam_access import (
    Arns,
    Call,
    RecordingProxy,
    Statement,
    Translator,
    denied,
    referenced_tables,
    target_tables,
)
from tests.infra_templates import (
    ACCOUNT,
    PSEUDO_PARAMETERS,
    Synthesized,
    resources,
    role_statements,
    statements,
)

pytestmark = pytest.mark.integration
ENVIRONMENT = "production"
FLOW = "access_test"
RUN = "manual__2025-01-31T00:00:00+00:00"


@dataclass(frozen=True)
class StepRun:
    settings: Settings
    arns: Arns
    translator: Translator
    calls: dict[EcsStep, list[Call]]
    proxy: RecordingProxy
    moto_endpoint: str


def locate_table(endpoint: str) -> Any:
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")

    def locate(database: str, table: str) -> str | None:
        try:
            found = glue.get_table(DatabaseName=database, Name=table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            return None
        return str(found["StorageDescriptor"]["Location"])

    return locate


# The steps whose transforms run on Athena on AWS, and what moto is to answer to each of
# their queries, in order (moto records the statements but runs none).
SQL_STEPS: frozenset[EcsStep] = frozenset({"bronze", "silver", "gold"})
NO_ROWS: Answer = {}


def counted(rows: int) -> Answer:
    return {"n": ("bigint", str(rows))}


def athena_answers(step: EcsStep, context: ProjectContext, interval: DataInterval) -> list[Answer]:
    """Bronze: one COUNT per new raw file (none there yet); silver: its report's counts,
    then DELETE, INSERT and COUNT for quarantine and for silver; gold: DELETE, INSERT, COUNT."""
    view = context.view
    if step == "bronze":
        raw_prefix = context.settings.aws.s3.raw_prefix
        files = [
            key
            for day in interval.days()
            for key in context.store.list_keys(raw_prefix_for_day(raw_prefix, view.dataset, day))
            if is_raw_data_file(key)
        ]
        return [counted(0) for _ in files]
    if step == "gold":
        return [NO_ROWS, NO_ROWS, counted(30)]
    queries = build_silver_queries(
        view,
        context.quality,
        context.lake.identifier(bronze_table(view.dataset)),
        interval_predicate(INGEST_DATE, interval),
        quarantine_schema(view).names,
    )
    newest = datetime.combine(interval.end, time(), tzinfo=UTC) - timedelta(hours=1)
    report: Answer = {
        "rows_in": ("bigint", "30"),
        "rows_valid": ("bigint", "30"),
        "rows_quarantined": ("bigint", "0"),
        "newest_event": ("double", str(newest.timestamp())),
        **{metric.alias: ("bigint", "0") for metric in queries.metric_columns},
    }
    return [report, NO_ROWS, NO_ROWS, counted(0), NO_ROWS, NO_ROWS, counted(30)]


@pytest.fixture(scope="module")
def step_run(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepRun]:
    """The sample raw files landed, then every step run in order through the proxy."""
    moto_api(moto_endpoint, "reset")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        root = tmp_path_factory.mktemp("step_access")
        direct = isolated_settings(root, app_env="aws", aws_endpoint_url=moto_endpoint)
        direct.aws.athena.poll_interval_seconds = 0.05
        # What the stacks (or init-aws) and the producers of raw files do, not the steps.
        ensure_aws_resources(direct)
        setup = ProjectContext(direct)
        land_sample_files(setup.store, setup.view, direct.aws.s3.raw_prefix, SAMPLE_END)
        proxy = RecordingProxy(moto_endpoint, free_port())
        with proxy.running():
            settings = direct.model_copy(update={"aws_endpoint_url": proxy.url})
            context = ProjectContext(settings)
            # A short search: what the step touches does not depend on the trial count.
            context.__dict__["training"] = context.training.with_search(n_trials=2)
            patch.setattr("src.cli.build_context", lambda: context)
            arns = Arns(PSEUDO_PARAMETERS["AWS::Region"], ACCOUNT)
            translator = Translator(arns, settings.lake_database, locate_table(moto_endpoint))
            interval = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)
            calls: dict[EcsStep, list[Call]] = {}
            from src.cli import app

            athena_lake = context.lake
            duckdb_lake = Lake(athena_lake.catalog, athena_lake.database, DuckDbEngine())

            def run_step(step: EcsStep, lake: Lake) -> None:
                context.__dict__["lake"] = lake
                key = result_key(settings.aws.s3.runs_prefix, FLOW, RUN, step)
                result = CliRunner().invoke(app, [
                    "step", step, "--start", interval.start.isoformat(),
                    "--end", interval.end.isoformat(), "--result-key", key,
                ])  # fmt: skip
                assert result.exit_code == 0, f"{step}: {result.output}"

            for step in ECS_STEPS:
                proxy.recording.take()
                if step in SQL_STEPS:
                    queue_athena_results(moto_endpoint, athena_answers(step, context, interval))
                # The training set is one Athena query whose answer is the whole set, which
                # moto cannot compute: training reads it on DuckDB over the same Glue table
                # and S3 files, and what Athena does for it as the caller is checked with a
                # query of its own below.
                run_step(step, duckdb_lake if step == "training" else athena_lake)
                calls[step] = translator.calls(proxy.recording.take())
                if step in SQL_STEPS:
                    # As on AWS the transforms were Athena statements, which moto records but
                    # does not run: the step runs once more, unrecorded, on DuckDB over the
                    # same Glue tables and S3 files, to write the rows the next steps read.
                    run_step(step, duckdb_lake)
            context.__dict__["lake"] = athena_lake
            yield StepRun(settings, arns, translator, calls, proxy, moto_endpoint)
    moto_api(moto_endpoint, "reset")


def step_role(synthesized: Synthesized, step: EcsStep) -> list[Statement]:
    """The statements of the role the task definition of the step's family runs with."""
    template = synthesized.stack(ENVIRONMENT)
    family = task_definition_family(step, ENVIRONMENT, synthesized.project)
    (task,) = (
        properties
        for properties in resources(template, "AWS::ECS::TaskDefinition").values()
        if properties["Family"] == family
    )
    logical_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    name = template["Resources"][logical_id]["Properties"]["RoleName"]
    return role_statements(template, name)


def forbidden_grants(granted: list[Statement]) -> list[str]:
    """Grants no task role may hold: creating or dropping the database the stack owns."""
    forbidden = {"glue:createdatabase", "glue:deletedatabase", "glue:updatedatabase"}
    return [
        f"{statement.get('Sid')}: {action}"
        for statement in granted
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        if action.lower() in forbidden or action.endswith("*")
    ]


@pytest.mark.parametrize("step", ECS_STEPS)
def test_the_role_of_each_step_grants_every_call_the_step_makes(
    step_run: StepRun, synthesized: Synthesized, step: EcsStep
) -> None:
    granted = step_role(synthesized, step)
    calls = step_run.calls[step]
    assert calls, f"{step} made no AWS call: the recording saw nothing"
    assert denied(calls, granted) == []
    assert forbidden_grants(granted) == []


# What each step must have been seen doing: the recording is not vacuous, and the derived
# reach (src/data/access.py) is exercised where it matters.
SEEN: dict[EcsStep, list[tuple[str, str]]] = {
    "bronze": [("s3:ListBucket", "raw"), ("s3:GetObject", "raw/"), ("s3:PutObject", "quality/"),
               ("glue:UpdateTable", "bronze"), ("s3:PutObject", "leases/data-pipeline/")],
    "silver": [("s3:PutObject", "quality/"), ("glue:UpdateTable", "silver"),
               ("glue:UpdateTable", "quarantine"), ("athena:StartQueryExecution", "workgroup/")],
    "gold": [("glue:GetTable", "silver"), ("glue:UpdateTable", "gold"),
             ("athena:StartQueryExecution", "workgroup/")],
    "training": [("glue:GetTable", "gold"), ("s3:PutObject", "leases/promotion/")],
    "batch-inference": [("s3:PutObject", "processed/predictions/"),
                        ("glue:UpdateTable", "predictions")],
    "drift-check": [("glue:GetTable", "predictions"), ("glue:GetTable", "labels")],
}  # fmt: skip


@pytest.mark.parametrize("step", ECS_STEPS)
def test_each_step_is_seen_reading_and_writing_what_it_should(
    step_run: StepRun, step: EcsStep
) -> None:
    calls = step_run.calls[step]
    for action, fragment in [*SEEN[step], ("s3:PutObject", f"runs/{FLOW}/")]:
        assert any(
            call.action == action
            and any(fragment in where for where in (*call.resources, *dict(call.context).values()))
            for call in calls
        ), f"{step}: no {action} on anything with {fragment!r}"
    # PyIceberg's data files go through PyArrow's S3 client: the proxy sees them too.
    if step in {"bronze", "batch-inference"}:
        assert any(
            call.action == "s3:PutObject" and "/data/" in call.resources[0] for call in calls
        ), f"{step}: no data file written"
    # Silver's and gold's rows are written by Athena, with the caller's rights.
    if step in {"silver", "gold"}:
        assert any(
            call.action == "s3:PutObject" and "(Athena, as the caller)" in call.origin
            for call in calls
        ), f"{step}: Athena wrote no table files as the caller"


def without_prefix(granted: list[Statement], fragment: str) -> list[Statement]:
    mutated = copy.deepcopy(granted)
    for statement in mutated:
        statement["Resource"] = [r for r in statement["Resource"] if fragment not in r]
        condition = statement.get("Condition", {}).get("StringLike", {})
        if "s3:prefix" in condition:
            condition["s3:prefix"] = [p for p in condition["s3:prefix"] if fragment not in p]
    return [statement for statement in mutated if statement["Resource"]]


def test_a_role_without_the_quality_prefix_is_caught(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    quality = step_run.settings.aws.s3.quality_prefix
    mutated = without_prefix(step_role(synthesized, "bronze"), f"/{quality}/")
    refused = denied(step_run.calls["bronze"], mutated)
    assert refused
    assert all(f"/{quality}/" in line.split("  <- ")[0] for line in refused), refused


def test_a_table_writer_listing_only_its_prefixes_is_caught(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    """PyIceberg reads a metadata key before it creates it; S3 answers 404 only to a caller
    that may list the bucket, which a prefix-limited listing grant does not cover."""
    mutated = copy.deepcopy(step_role(synthesized, "silver"))
    for statement in mutated:
        if statement["Action"] == ["s3:ListBucket"]:
            statement["Condition"] = {"StringLike": {"s3:prefix": ["warehouse/*", "leases/*"]}}
    refused = denied(step_run.calls["silver"], mutated)
    assert refused
    assert all("answered 404" in line for line in refused), refused


def test_a_step_role_lacks_what_another_step_needs(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    """Least privilege: the drift check's role cannot do what bronze does."""
    refused = denied(step_run.calls["bronze"], step_role(synthesized, "drift-check"))
    table = bronze_table(ProjectContext(step_run.settings).view.dataset)
    assert any(line.startswith("glue:UpdateTable") and table in line for line in refused)
    assert any(line.startswith("s3:GetObject") and "/raw/" in line for line in refused)


def test_a_role_that_could_create_the_database_is_caught(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    widened = [
        *step_role(synthesized, "bronze"),
        {
            "Sid": "Widened",
            "Effect": "Allow",
            "Action": ["glue:CreateDatabase"],
            "Resource": [step_run.arns.glue("catalog"), step_run.arns.glue("database/*")],
        },
    ]
    assert forbidden_grants(widened) == ["Widened: glue:CreateDatabase"]
    # Where the database is missing, the lake creates it: a call no step role allows.
    settings = step_run.settings.model_copy(deep=True)
    settings.aws.athena.database = "missing_database"
    step_run.proxy.recording.take()
    build_lake(settings).ensure_database()
    calls = [
        call
        for call in step_run.translator.calls(step_run.proxy.recording.take())
        if call.action == "glue:CreateDatabase"
    ]
    assert calls
    for step in ECS_STEPS:
        assert denied(calls, step_role(synthesized, step)), step


def test_a_query_on_athena_is_checked_with_what_athena_does_as_the_caller(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    """The training set's retrieval runs on Athena on AWS: the query, its result and the
    gold table's files, checked against the training role, which allows them, and the
    drift check's, which runs no SQL."""
    context = ProjectContext(step_run.settings)
    database, gold = context.lake.database, context.view.table
    moto_api(step_run.moto_endpoint, "static/athena/query-results", {
        "region": "us-east-1",
        "results": [{"rows": [{"Data": [{"VarCharValue": "n"}]}, {"Data": [{"VarCharValue": "3"}]}],
                     "column_info": [{"CatalogName": "hive", "SchemaName": "", "TableName": "",
                                      "Name": "n", "Label": "n", "Type": "bigint", "Precision": 0,
                                      "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}]}],
    })  # fmt: skip
    step_run.proxy.recording.take()
    context.lake.sql(f'SELECT count(*) AS n FROM {database}."{gold}"')  # nosec B608
    calls = step_run.translator.calls(step_run.proxy.recording.take())
    actions = {call.action for call in calls}
    assert {"athena:StartQueryExecution", "athena:GetQueryExecution", "glue:GetTable"} <= actions
    assert any(
        "(Athena, as the caller)" in call.origin and gold in call.resources[0]
        for call in calls
        if call.action == "s3:GetObject"
    )
    assert denied(calls, step_role(synthesized, "training")) == []
    refused = denied(calls, step_role(synthesized, "drift-check"))
    assert any(line.startswith("athena:StartQueryExecution") for line in refused)


def test_the_query_text_names_the_tables_athena_reads_and_writes() -> None:
    sql = (
        'MERGE INTO db."silver_x" AS t USING (SELECT * FROM db.bronze_x '
        "JOIN other.table_y ON true) AS s ON t.id = s.id WHEN NOT MATCHED THEN INSERT *; "
        "INSERT INTO db.quarantine_x SELECT * FROM db . bronze_x"
    )
    assert referenced_tables(sql, "db") == {"silver_x", "bronze_x", "quarantine_x"}
    assert target_tables(sql, "db") == {"silver_x", "quarantine_x"}


def launch_policy(synthesized: Synthesized) -> list[Statement]:
    template = synthesized.stack(ENVIRONMENT)
    (policy,) = resources(template, "AWS::IAM::ManagedPolicy").values()
    return statements(template, policy["PolicyDocument"])


def test_the_launch_policy_grants_what_the_dags_own_tasks_read(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    """The sensors and checks that stay in the orchestrator's worker, as the DAG files call them
    (ml_batch_inference_pipeline, ml_monitoring_pipeline, ml_training_pipeline), and the
    collection of a step's result (dag_support.launch_on_ecs)."""
    from src.data.predictions import count_prediction_window
    from src.data.quality import read_blocking_problems

    context = ProjectContext(step_run.settings)
    s3, view = step_run.settings.aws.s3, context.view
    interval = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)
    step_run.proxy.recording.take()
    for start, end in ((interval.start, interval.end), (SAMPLE_END, SAMPLE_END + timedelta(1))):
        # The second interval has no reports: reading a missing key needs S3's 404.
        read_blocking_problems(
            context.store, s3.quality_prefix, view.dataset, start.isoformat(), end.isoformat()
        )
    assert context.lake.table_exists(view.table)
    assert context.lake.count(view.table, where=interval.filter(INGEST_DATE)) > 0
    assert context.lake.count(view.table) > 0
    assert context.lake.partition_values(view.table, INGEST_DATE)
    day = SAMPLE_END - timedelta(days=1)
    assert count_prediction_window(context.lake, day, 7, step_run.settings.model_name) > 0
    context.store.get_bytes(result_key(s3.runs_prefix, FLOW, RUN, "batch-inference"))
    calls = step_run.translator.calls(step_run.proxy.recording.take())
    assert any("answered 404" in call.origin for call in calls)
    policy = launch_policy(synthesized)
    assert denied(calls, policy) == []
    assert forbidden_grants(policy) == []
    # ... and it writes nothing: what a step writes is refused to the orchestrator.
    assert denied(step_run.calls["gold"], policy)
