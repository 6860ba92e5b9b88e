"""The AWS path against moto in server mode: S3, Glue, Athena and ECR over real HTTP. moto runs
no SQL: Athena answers with results queued through moto's API, so these tests check what the
project sends and does with the answers; the tables are real Iceberg tables in moto's Glue
and S3."""

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from src.context import ProjectContext
from src.data.aws_integration import ensure_aws_resources, hold_lock, is_not_found
from src.data.feature_store import TrainingSample, get_training_set
from src.data.intervals import DataInterval
from src.data.lake import Lake, transpile_to_athena
from src.data.quality import build_silver_queries
from src.errors import ProjectError
from src.names import quarantine_table, silver_table
from src.pipelines.DE.pipeline import gold_query
from src.settings import Settings
from tests.conftest import (
    Answer,
    isolated_env,
    land_raw_frame,
    make,
    queue_athena_results,
    synthesize_rows,
)

pytestmark = pytest.mark.integration


def submitted(settings: Settings) -> list[dict[str, Any]]:
    """Athena's query executions in the project's workgroup, oldest first."""
    athena = boto3.client("athena", endpoint_url=settings.aws_endpoint_url)
    ids = athena.list_query_executions(WorkGroup=settings.aws.athena.workgroup)["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return sorted(executions, key=lambda e: e["Status"]["SubmissionDateTime"])


def test_init_aws_creates_what_is_missing_then_only_finds_it(
    aws_settings: Settings, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url)
    bucket, repositories = aws_settings.aws.s3.bucket, len(aws_settings.aws.ecr.repositories)
    database = aws_settings.lake_database  # made by hand, say; everything else is missing
    glue = boto3.client("glue", endpoint_url=aws_settings.aws_endpoint_url)
    glue.create_database(DatabaseInput={"Name": database})
    env = {**isolated_env(tmp_path), "APP_ENV": "aws"}
    env["AWS_ENDPOINT_URL"] = aws_settings.aws_endpoint_url or ""
    result = make("init-aws", env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert f"created  bucket {bucket}" in lines and f"  found  Glue database {database}" in lines
    assert lines[-1].startswith(f"init-aws: {2 + repositories} created, 1 found")
    again = make("init-aws", env).stdout.strip().splitlines()
    assert again[-1].startswith(f"init-aws: 0 created, {3 + repositories} found"), again
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    athena = boto3.client("athena", endpoint_url=aws_settings.aws_endpoint_url)
    workgroup = athena.get_work_group(WorkGroup=aws_settings.aws.athena.workgroup)["WorkGroup"]
    output = workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"]
    assert output == f"s3://{bucket}/athena-results/"


def test_the_s3_lock_excludes_a_second_holder_and_leaves_no_object(aws_settings: Settings) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url)
    bucket = aws_settings.aws.s3.bucket
    s3.create_bucket(Bucket=bucket)
    for _ in range(2):  # a second time: the first release left nothing in the way
        with (
            hold_lock(aws_settings, "promotion/model", wait_seconds=0),
            pytest.raises(ProjectError, match="held by another run"),
            hold_lock(aws_settings, "promotion/model", wait_seconds=0),
        ):
            pass
        # Not even a directory marker (`leases/promotion/`), which some S3 stores make a file.
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


@pytest.mark.parametrize(
    "response",
    [
        {"Error": {"Code": "InvalidRequestException", "Message": "WorkGroup x is not found."}},
        {"Error": {}, "ResponseMetadata": {"HTTPStatusCode": 404}},  # moto 5.2.6's bare 404
        {"Error": {"Code": "RepositoryNotFoundException", "Message": "..."}},
    ],
)
def test_not_found_is_recognised_whatever_the_service_calls_it(response: dict[str, Any]) -> None:
    assert is_not_found(ClientError(response, "GetWorkGroup"))
    assert not is_not_found(ClientError({"Error": {"Code": "AccessDenied"}}, "GetWorkGroup"))


def test_on_aws_silver_and_gold_are_athena_statements_on_the_iceberg_tables(
    aws_settings: Settings,
) -> None:
    ensure_aws_resources(aws_settings)
    context = ProjectContext(aws_settings)
    view, lake = context.view, context.lake
    frame = synthesize_rows(view, rows=50)
    land_raw_frame(context, frame)
    interval = DataInterval.for_day(frame[view.event_timestamp].dt.date.iloc[0])
    queries = build_silver_queries(view, context.quality, lake.identifier("bronze"), "TRUE")
    counts: Answer = {"rows_in": ("bigint", "6"), "rows_quarantined": ("bigint", "1")}
    counts |= {f"check_{name}": ("bigint", "0") for name in queries.actions}
    statement: Answer = {}
    answers = [counts]
    for rows in (1, 5, 5):  # quarantine, silver, gold: DELETE, INSERT, COUNT
        answers += [statement, statement, {"n": ("bigint", str(rows))}]
    queue_athena_results(aws_settings.aws_endpoint_url or "", answers)

    report = context.run_data_pipeline(interval)

    counted = (report.rows_in, report.rows_quarantined, report.rows_valid, report.gold_rows)
    assert counted == (6, 1, 5, 5)
    sent = submitted(aws_settings)
    assert len(sent) == 1 + 3 * 3
    assert {e["WorkGroup"] for e in sent} == {aws_settings.aws.athena.workgroup}
    assert {e["QueryExecutionContext"]["Database"] for e in sent} == {lake.database}
    silver = lake.identifier(silver_table(view.dataset))
    targets = [quarantine_table(view.dataset), silver_table(view.dataset), view.table]
    for index, table in enumerate(targets):
        delete, insert, count = (e["Query"] for e in sent[1 + 3 * index :][:3])
        assert delete.startswith(f"DELETE FROM {lake.identifier(table)} WHERE ingest_date >= ")
        assert insert.startswith(f"INSERT INTO {lake.identifier(table)} (")
        assert count.startswith(f"SELECT COUNT(*) AS n FROM {lake.identifier(table)}")
    gold = transpile_to_athena(gold_query(view, silver, interval.sql("ingest_date")))
    assert sent[-2]["Query"].endswith(gold)


def test_the_training_set_on_aws_is_one_athena_query_over_gold(aws_settings: Settings) -> None:
    ensure_aws_resources(aws_settings)
    context = ProjectContext(aws_settings)
    view = context.view
    land_raw_frame(context, synthesize_rows(view, rows=50))
    # Gold is built by DuckDB over the Iceberg files in moto's S3 (moto runs no SQL).
    on_duckdb = Lake(context.lake.catalog, context.lake.database, context.lake.filesystem)
    context.lake = on_duckdb
    day = synthesize_rows(view, rows=50)[view.event_timestamp].dt.date.iloc[0]
    report = context.run_data_pipeline(DataInterval.for_day(day))
    assert report.gold_rows > 0
    names = [*view.key_columns, *view.feature_names, view.label.name]
    endpoint = aws_settings.aws_endpoint_url or ""
    queue_athena_results(endpoint, [dict.fromkeys(names, ("varchar", None))])
    context = ProjectContext(aws_settings)

    frame, snapshot_id = get_training_set(context.lake, view, TrainingSample(500, 1, True))

    assert list(frame.columns) == names
    assert snapshot_id == on_duckdb.load(view.table).metadata.current_snapshot_id is not None
    (query,) = (e["Query"] for e in submitted(aws_settings))
    assert f"{context.lake.identifier(view.table)}" in query and "LIMIT 500" in query
