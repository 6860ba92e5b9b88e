"""The AWS paths against moto in server mode, over HTTP, with the project's own clients.

moto speaks the S3, Glue, Athena and ECR APIs; PyIceberg's Glue catalog and PyArrow's S3
file system talk to it as to AWS. moto does not execute SQL: Athena queries return the
results queued through moto's API, so the tests check what the project sends (workgroup,
result location, query text) and how it treats answers. moto never fails a query, so the
FAILED test puts a small HTTP proxy in front of it that rewrites Athena's status answer
to the FAILED one Athena sends.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pyarrow as pa
import pytest

from src.context import ProjectContext
from src.data.aws_integration import (
    AthenaQueryError,
    build_athena_runner,
    build_object_store,
    read_parquet,
    write_parquet,
)
from src.data.aws_resources import ensure_aws_resources
from src.data.feature_store import (
    INGEST_DATE,
    TrainingSample,
    get_training_set,
    read_training_snapshot,
)
from src.data.intervals import DataInterval
from src.data.lake import (
    AthenaEngine,
    DuckDbEngine,
    Lake,
    build_lake,
    interval_predicate,
    transpile_to_athena,
)
from src.data.quality import build_silver_queries
from src.data.sample_data import land_sample_files
from src.errors import ProjectError
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.bronze import raw_prefix_for_day
from src.pipelines.DE.gold import gold_query
from src.pipelines.DE.pipeline import run_data_pipeline
from src.pipelines.DE.silver import PAIRED_INTERVAL, quarantine_schema
from src.settings import Settings
from tests.conftest import (
    FAKE_AWS_ENV,
    Answer,
    free_port,
    isolated_settings,
    moto_api,
    queue_athena_results,
)

pytestmark = pytest.mark.integration
END = date(2025, 1, 31)
FAILURE_REASON = "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"


@pytest.fixture(scope="module")
def provisioned(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The project's bucket, Glue database, workgroup and ECR repositories, on moto.

    Shared by the module's tests, which use their own keys and tables.
    """
    moto_api(moto_endpoint, "reset")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        root = tmp_path_factory.mktemp("aws")
        settings = isolated_settings(root, app_env="aws", aws_endpoint_url=moto_endpoint)
        settings.aws.athena.poll_interval_seconds = 0.05
        ensure_aws_resources(settings)
        yield settings


def test_init_aws_creates_everything_then_only_finds_it(aws_settings: Settings) -> None:
    first = ensure_aws_resources(aws_settings)
    second = ensure_aws_resources(aws_settings)

    kinds = [result.kind for result in first]
    assert kinds[:4] == ["s3 bucket", "glue database", "athena workgroup", "athena database"]
    assert kinds.count("ecr repository") == len(aws_settings.aws.ecr.repositories) >= 3
    assert {r.status for r in first if r.kind != "athena database"} == {"created"}
    assert {r.status for r in second} == {"found"}

    s3 = boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url)
    bucket = aws_settings.aws.s3.bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    glue = boto3.client("glue", endpoint_url=aws_settings.aws_endpoint_url)
    database = glue.get_database(Name=aws_settings.aws.athena.database)["Database"]
    assert database["LocationUri"] == f"s3://{bucket}/warehouse/{database['Name']}.db"
    athena = boto3.client("athena", endpoint_url=aws_settings.aws_endpoint_url)
    workgroup = athena.get_work_group(WorkGroup=aws_settings.aws.athena.workgroup)["WorkGroup"]
    output = workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"]
    assert output == f"s3://{bucket}/athena-results/"
    ecr = boto3.client("ecr", endpoint_url=aws_settings.aws_endpoint_url)
    repositories = ecr.describe_repositories()["repositories"]
    assert sorted(r["repositoryName"] for r in repositories) == sorted(
        aws_settings.aws.ecr.repositories
    )
    assert all(r["imageScanningConfiguration"]["scanOnPush"] for r in repositories)


def test_s3_object_store_round_trip(provisioned: Settings, tmp_path: Path) -> None:
    store = build_object_store(provisioned)
    store.put_bytes("raw/a/x.csv", b"a,b\n1,2\n")
    store.put_bytes("raw/a/y.csv", b"a,b\n3,4\n")
    assert store.list_keys("raw/a/") == ["raw/a/x.csv", "raw/a/y.csv"]
    assert store.get_bytes("raw/a/x.csv") == b"a,b\n1,2\n"
    assert store.exists("raw/a/y.csv")
    store.delete("raw/a/y.csv")
    assert not store.exists("raw/a/y.csv")
    assert store.uri("raw/a/x.csv") == f"s3://{provisioned.aws.s3.bucket}/raw/a/x.csv"
    with pytest.raises(ProjectError, match="does not exist"):
        store.get_bytes("raw/missing.csv")
    with pytest.raises(ProjectError, match="does not exist"):
        store.download_file("raw/missing.csv", tmp_path / "m")
    table = pa.table({"id": ["a", "b"], "value": [1.5, 2.5]})
    write_parquet(store, "processed/t.parquet", table)
    assert read_parquet(store, "processed/t.parquet").equals(table)


def test_a_large_object_goes_up_in_parts_and_comes_back_whole(
    provisioned: Settings, tmp_path: Path
) -> None:
    settings = provisioned.model_copy(deep=True)
    settings.aws.s3.multipart_threshold_mb = 5
    settings.aws.s3.multipart_chunk_mb = 5
    store = build_object_store(settings)
    payload = bytes(range(256)) * (11 * 1024 * 1024 // 256)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    store.upload_file(source, "artifacts/big.bin")
    s3 = boto3.client("s3", endpoint_url=settings.aws_endpoint_url)
    etag = s3.head_object(Bucket=settings.aws.s3.bucket, Key="artifacts/big.bin")["ETag"]
    # A multipart object's ETag ends in -<number of parts>.
    assert etag.strip('"').endswith("-3")
    store.download_file("artifacts/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == payload


def test_the_lake_on_glue_and_s3_creates_evolves_upserts_and_travels(
    provisioned: Settings,
) -> None:
    lake = build_lake(provisioned)
    schema = pa.schema([pa.field("id", pa.string(), nullable=False), ("amount", pa.float64())])
    lake.create_table("payments", schema)
    lake.append("payments", pa.table({"id": ["a", "b"], "amount": [1.0, 2.0]}, schema=schema))
    first = lake.snapshots("payments")[-1]
    lake.upsert(
        "payments", pa.table({"id": ["a", "c"], "amount": [5.0, 3.0]}, schema=schema), ["id"]
    )
    wider = schema.append(pa.field("currency", pa.string()))
    lake.create_table("payments", wider)

    rows = {row["id"]: row for row in lake.read("payments").to_pylist()}
    assert {key: row["amount"] for key, row in rows.items()} == {"a": 5.0, "b": 2.0, "c": 3.0}
    assert all(row["currency"] is None for row in rows.values())
    assert lake.read("payments", snapshot_id=first.snapshot_id).num_rows == 2
    glue = boto3.client("glue", endpoint_url=provisioned.aws_endpoint_url)
    table = glue.get_table(DatabaseName=provisioned.aws.athena.database, Name="payments")["Table"]
    assert table["Parameters"]["table_type"].upper() == "ICEBERG"
    assert table["StorageDescriptor"]["Location"].startswith(
        f"s3://{provisioned.aws.s3.bucket}/warehouse/"
    )


def test_the_data_pipeline_on_duckdb_runs_over_s3_and_glue(provisioned: Settings) -> None:
    """Glue and S3 with DuckDB as the engine: PyIceberg's Glue catalog and S3 file IO.

    (On AWS the project's engine is Athena, which moto cannot run: see the next test.)
    """
    context = ProjectContext(provisioned)
    lake = Lake(context.lake.catalog, context.lake.database, DuckDbEngine())
    raw_prefix = provisioned.aws.s3.raw_prefix
    landed = land_sample_files(context.store, context.view, raw_prefix, END)
    assert all(key.startswith(f"{raw_prefix}/") for key in landed)
    interval = DataInterval.for_day(END - timedelta(days=1))

    def run() -> None:
        run_data_pipeline(
            lake,
            context.store,
            context.view,
            raw_prefix,
            interval,
            quality=context.quality,
            quality_prefix=provisioned.aws.s3.quality_prefix,
        )

    run()
    dataset = context.view.dataset
    where = interval.filter(INGEST_DATE)
    tables = [bronze_table(dataset), silver_table(dataset), quarantine_table(dataset)]
    tables.append(context.view.table)
    before = {t: lake.fingerprint(t, where, exclude=["_ingested_at"]) for t in tables}
    run()
    after = {t: lake.fingerprint(t, where, exclude=["_ingested_at"]) for t in tables}

    assert after == before
    assert before[context.view.table].rows == before[bronze_table(dataset)].rows > 20
    assert len(get_training_set(lake, context.view)) == before[context.view.table].rows
    reports = context.store.list_keys(f"{provisioned.aws.s3.quality_prefix}/{dataset}/")
    assert len(reports) == 2


def submitted_queries(settings: Settings) -> list[dict[str, Any]]:
    athena = boto3.client("athena", endpoint_url=settings.aws_endpoint_url)
    ids = athena.list_query_executions(WorkGroup=settings.aws.athena.workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_on_aws_the_data_pipeline_transforms_on_athena_and_scans_nothing_in_the_worker(
    provisioned: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silver and gold are Athena statements on the Iceberg tables; counts are COUNT queries.

    moto runs no SQL: the answers of the COUNT queries are queued, the statements are
    checked (text, workgroup, result location, target tables), and any PyIceberg scan of
    a table in the worker fails the test.
    """
    endpoint = provisioned.aws_endpoint_url or ""
    context = ProjectContext(provisioned)
    lake, view, store = context.lake, context.view, context.store
    assert isinstance(lake.sql_engine, AthenaEngine)
    raw_prefix = provisioned.aws.s3.raw_prefix
    day = END - timedelta(days=3)
    interval = DataInterval.for_day(day)
    land_sample_files(store, view, raw_prefix, END)
    files = store.list_keys(raw_prefix_for_day(raw_prefix, view.dataset, day))
    queries = build_silver_queries(
        view,
        context.quality,
        lake.identifier(bronze_table(view.dataset)),
        interval_predicate(INGEST_DATE, interval),
        quarantine_schema(view).names,
    )
    counts: dict[str, tuple[str, str | None]] = {
        "rows_in": ("bigint", "30"),
        "rows_valid": ("bigint", "28"),
        "rows_quarantined": ("bigint", "2"),
        "newest_event": ("double", str(datetime.combine(day, time(22), tzinfo=UTC).timestamp())),
    }
    for metric in queries.metric_columns:
        duplicates = metric.rule == "duplicate_key"
        counts[metric.alias] = ("bigint", "2" if duplicates else "0")
    statement: Answer = {}

    def counted(rows: int) -> Answer:
        return {"n": ("bigint", str(rows))}

    answers: list[Answer] = [counted(0) for _ in files]  # bronze: is the file there yet?
    answers.append(counts)  # silver's report
    for rows in (2, 28, 28):  # quarantine, silver, gold: DELETE, INSERT, COUNT
        answers += [statement, statement, counted(rows)]
    queue_athena_results(endpoint, answers)
    before = {execution["QueryExecutionId"] for execution in submitted_queries(provisioned)}

    def no_scan(*_: object, **__: object) -> None:
        raise AssertionError("a table was scanned with PyIceberg in the worker")

    monkeypatch.setattr(Lake, "scan", no_scan)
    monkeypatch.setattr(Lake, "read", no_scan)
    result = run_data_pipeline(
        lake,
        store,
        view,
        raw_prefix,
        interval,
        quality=context.quality,
        quality_prefix=provisioned.aws.s3.quality_prefix,
    )
    monkeypatch.undo()

    assert result.silver is not None and result.gold is not None and result.bronze is not None
    assert (result.silver.rows_in, result.silver.rows_valid) == (30, 28)
    assert (result.silver.rows_quarantined, result.gold.rows) == (2, 28)
    duplicate = next(c for c in result.silver.report.checks if c.name == "duplicate_key")
    assert duplicate.failed == 2
    executions = [e for e in submitted_queries(provisioned) if e["QueryExecutionId"] not in before]
    assert len(executions) == len(files) + 1 + 3 * 3
    for execution in executions:
        assert execution["WorkGroup"] == provisioned.aws.athena.workgroup
        assert execution["QueryExecutionContext"]["Database"] == lake.database
        output = execution["ResultConfiguration"]["OutputLocation"]
        assert output.startswith(provisioned.athena_output_location)
    sent = [execution["Query"] for execution in executions]
    assert sent[len(files)] == transpile_to_athena(queries.metrics)
    # Quarantine first, silver last, then gold: each the SELECT DuckDB runs locally,
    # transpiled, inserted into the interval its DELETE emptied.
    targets = [quarantine_table(view.dataset), silver_table(view.dataset), view.table]
    selects = [queries.quarantine, queries.silver]
    selects.append(
        gold_query(
            view,
            lake.identifier(silver_table(view.dataset)),
            interval_predicate(INGEST_DATE, interval),
        )
    )
    glue = boto3.client("glue", endpoint_url=endpoint)
    for index, (table, select) in enumerate(zip(targets, selects, strict=True)):
        delete, insert, count = sent[len(files) + 1 + 3 * index :][:3]
        target = lake.identifier(table)
        assert delete == (
            f"DELETE FROM {target} WHERE ingest_date >= CAST('{interval.start}' AS DATE) "
            f"AND ingest_date < CAST('{interval.end}' AS DATE)"
        )
        assert insert.startswith(f"INSERT INTO {target} (")
        assert insert.endswith(") " + transpile_to_athena(select))
        assert count.startswith(f"SELECT COUNT(*) AS n FROM {target} WHERE")
        found = glue.get_table(DatabaseName=lake.database, Name=table)["Table"]
        assert found["Parameters"]["table_type"].upper() == "ICEBERG"
    properties = lake.load(silver_table(view.dataset)).properties
    assert properties[PAIRED_INTERVAL] == str(interval)
    # Bronze is the one table the worker writes: the raw files, appended by PyIceberg.
    assert lake.count(bronze_table(view.dataset), where=interval.filter(INGEST_DATE)) > 20


def test_compose_mode_keeps_the_sql_catalog_and_puts_data_on_the_bucket(
    provisioned: Settings, tmp_path: Path
) -> None:
    """compose = SQL catalog (Postgres there, SQLite here) + data on MinIO (moto's S3 here)."""
    settings = provisioned.model_copy(
        update={
            "app_env": "compose",
            "catalog_uri": f"sqlite:///{tmp_path / 'catalog.db'}",
            "aws_endpoint_url": None,
            "aws_endpoint_url_s3": provisioned.aws_endpoint_url,
        },
        deep=True,
    )
    settings.aws.s3.warehouse_prefix = "compose-warehouse"
    context = ProjectContext(settings)
    land_sample_files(context.store, context.view, settings.aws.s3.raw_prefix, END)
    day = DataInterval.for_day(END - timedelta(days=2))
    raw_prefix = settings.aws.s3.raw_prefix
    run_data_pipeline(
        context.lake, context.store, context.view, raw_prefix, day, quality=context.quality
    )
    gold = context.lake.read(context.view.table)
    assert gold.num_rows > 20
    location = context.lake.load(context.view.table).location()
    assert location.startswith(f"s3://{settings.aws.s3.bucket}/compose-warehouse/")
    result = context.lake.sql(
        f"SELECT count(*) AS n FROM {context.lake.database}.{context.view.table}"
    )
    assert result.to_pylist() == [{"n": gold.num_rows}]


def queue_athena_result(endpoint: str, rows: list[list[str]], names: list[str]) -> None:
    """Queue what moto's Athena answers to the next query (moto runs no SQL)."""
    header = {"Data": [{"VarCharValue": name} for name in names]}
    data = [{"Data": [{"VarCharValue": value} for value in row]} for row in rows]
    columns = [
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
         "Type": kind, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
        for name, kind in zip(names, ["varchar", "bigint"], strict=False)
    ]  # fmt: skip
    moto_api(endpoint, "static/athena/query-results", {
        "region": "us-east-1", "results": [{"rows": [header, *data], "column_info": columns}],
    })  # fmt: skip


def test_lake_sql_on_aws_is_submitted_to_athena_in_the_workgroup(provisioned: Settings) -> None:
    endpoint = provisioned.aws_endpoint_url or ""
    queue_athena_result(endpoint, [["a", "3"], ["b", "5"]], ["patient_id", "n"])
    lake = build_lake(provisioned)
    query = f"SELECT patient_id, count(*) AS n FROM {lake.database}.gold_x GROUP BY 1"

    result = lake.sql(query)

    assert result.to_pylist() == [{"patient_id": "a", "n": 3}, {"patient_id": "b", "n": 5}]
    athena = boto3.client("athena", endpoint_url=endpoint)
    workgroup = provisioned.aws.athena.workgroup
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    submitted = next(e for e in executions if e["Query"] == transpile_to_athena(query))
    assert submitted["WorkGroup"] == workgroup
    assert submitted["QueryExecutionContext"]["Database"] == provisioned.aws.athena.database
    output = submitted["ResultConfiguration"]["OutputLocation"]
    assert output.startswith(provisioned.athena_output_location)


def test_the_training_set_on_aws_is_one_athena_query_over_the_gold_table(
    provisioned: Settings,
) -> None:
    context = ProjectContext(provisioned)
    view = context.view
    land_sample_files(context.store, view, provisioned.aws.s3.raw_prefix, END)
    # The gold table built on DuckDB over Glue and S3 (moto runs no Athena statement).
    duckdb_lake = Lake(context.lake.catalog, context.lake.database, DuckDbEngine())
    run_data_pipeline(
        duckdb_lake, context.store, view, provisioned.aws.s3.raw_prefix,
        DataInterval.for_day(END - timedelta(days=1)), quality=context.quality,
        quality_prefix=provisioned.aws.s3.quality_prefix,
    )  # fmt: skip
    names = [*view.key_columns, *view.feature_names, view.label.name]
    header = {"Data": [{"VarCharValue": name} for name in names]}
    columns = [
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
         "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
         "CaseSensitive": True}
        for name in names
    ]  # fmt: skip
    endpoint = provisioned.aws_endpoint_url or ""
    moto_api(endpoint, "static/athena/query-results", {
        "region": "us-east-1", "results": [{"rows": [header], "column_info": columns}],
    })  # fmt: skip

    frame, snapshot_id = read_training_snapshot(
        context.lake, view, TrainingSample(max_rows=500, seed=1, stratified=True)
    )

    assert list(frame.columns) == names and frame.empty
    current = context.lake.load(view.table).current_snapshot()
    assert current is not None and snapshot_id == current.snapshot_id
    athena = boto3.client("athena", endpoint_url=endpoint)
    workgroup = provisioned.aws.athena.workgroup
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    queries = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    training = [q["Query"] for q in queries if "last_value" in q["Query"].lower()]
    assert len(training) == 1
    assert f"{context.lake.database}.{view.table}" in training[0]
    assert "LIMIT 500" in training[0].upper()


class FailingAthenaProxy(BaseHTTPRequestHandler):
    """Forwards to moto; answers GetQueryExecution the way Athena reports a failed query."""

    upstream = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        connection.request("POST", self.path, body=body, headers=headers)
        answer = connection.getresponse()
        content = answer.read()
        if self.headers.get("X-Amz-Target") == "AmazonAthena.GetQueryExecution":
            document = json.loads(content)
            document["QueryExecution"]["Status"].update(
                State="FAILED",
                StateChangeReason=FAILURE_REASON,
                AthenaError={"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False},
            )
            content = json.dumps(document).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type") or "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_athena(provisioned: Settings) -> Iterator[str]:
    handler = type("Proxy", (FailingAthenaProxy,), {"upstream": provisioned.aws_endpoint_url})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_a_failed_athena_query_carries_athenas_reason(
    provisioned: Settings, failing_athena: str
) -> None:
    runner = build_athena_runner(
        provisioned.model_copy(update={"aws_endpoint_url": failing_athena})
    )
    with pytest.raises(AthenaQueryError, match=f"Athena query .+ failed: {FAILURE_REASON}"):
        runner.query_arrow("SELECT nope FROM ml_database.gold_x")


def test_a_slow_athena_query_times_out_and_is_cancelled(provisioned: Settings) -> None:
    endpoint = provisioned.aws_endpoint_url or ""
    # Keep moto's executions QUEUED: they only advance when told to.
    moto_api(endpoint, "state-manager/set-transition", {
        "model_name": "athena::execution", "transition": {"progression": "manual", "times": 10**6},
    })  # fmt: skip
    try:
        runner = dataclasses.replace(
            build_athena_runner(provisioned), timeout_seconds=1.0, poll_interval_seconds=0.1
        )
        with pytest.raises(AthenaQueryError, match=r"did not finish within 1 s.*cancelled"):
            runner.query_arrow("SELECT 1")
    finally:
        moto_api(endpoint, "state-manager/unset-transition", {"model_name": "athena::execution"})
    athena = boto3.client("athena", endpoint_url=endpoint)
    ids = athena.list_query_executions(WorkGroup=provisioned.aws.athena.workgroup)[
        "QueryExecutionIds"
    ]
    states = {
        athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Status"]["State"]
        for i in ids
    }
    assert "CANCELLED" in states
