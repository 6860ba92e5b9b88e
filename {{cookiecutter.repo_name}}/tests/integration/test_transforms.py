"""Silver and gold as SQL on DuckDB give the rows of the previous in-worker computation.

The reference (tests/transform_reference.py) is the implementation the SQL steps
replaced: DuckDB over Arrow tables of the whole interval, temporary tables and UPDATEs.
The crafted day has a row for every check silver makes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg import expressions as iceberg
from pyiceberg.table import Table

from src.context import ProjectContext
from src.data import lake as lake_module
from src.data.feature_store import INGEST_DATE
from src.data.intervals import DataInterval
from src.data.lake import DataFiles, DuckDbEngine, Lake, interval_predicate
from src.data.quality import REJECT_REASON, REJECT_RULE, QualityReport, check_freshness
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.gold import build_gold
from src.pipelines.DE.silver import build_silver, quarantine_schema
from tests.transform_reference import (
    CONFIG,
    VIEW,
    engineer_features,
    evaluate_rows,
    land_bronze,
)

pytestmark = pytest.mark.integration
DAY = date(2025, 2, 10)
INTERVAL = DataInterval.for_day(DAY)


def sorted_rows(table: pa.Table, keys: list[str]) -> list[dict[str, Any]]:
    order = [(key, "ascending") for key in keys]
    return list(table.sort_by(order).to_pylist())


def reference_report() -> QualityReport:
    return QualityReport(VIEW.dataset, "silver", str(INTERVAL.start), str(INTERVAL.end))


def test_silver_and_gold_on_duckdb_give_the_reference_rows(context: ProjectContext) -> None:
    lake = context.lake
    land_bronze(lake, DAY)
    bronze = lake.read(bronze_table(VIEW.dataset), where=INTERVAL.filter(INGEST_DATE))
    report = reference_report()
    expected = evaluate_rows(bronze, VIEW, CONFIG, report)
    newest = pc.max(expected.valid.column(VIEW.event_timestamp)).as_py()
    report.checks.extend(check_freshness(newest, VIEW, CONFIG, INTERVAL))

    result = build_silver(lake, VIEW, INTERVAL, CONFIG)

    keys = VIEW.key_columns
    silver = lake.read(silver_table(VIEW.dataset))
    assert sorted_rows(silver, keys) == sorted_rows(expected.valid, keys)
    rejected = (
        bronze.take(pa.array(expected.rejected_rows, pa.int64()))
        .append_column(REJECT_RULE, pa.array(expected.rejected_rules, pa.string()))
        .append_column(REJECT_REASON, pa.array(expected.rejected_reasons, pa.string()))
        .select(quarantine_schema(VIEW).names)
        .cast(quarantine_schema(VIEW))
    )
    order = ["_source_file", "_raw_line", *keys, REJECT_RULE]
    quarantine = lake.read(quarantine_table(VIEW.dataset))
    assert sorted_rows(quarantine, order) == sorted_rows(rejected, order)
    found = [(c.name, c.action, c.failed, c.columns, c.message) for c in result.report.checks]
    assert found == [(c.name, c.action, c.failed, c.columns, c.message) for c in report.checks]
    assert (result.rows_in, result.rows_valid, result.rows_quarantined) == (
        bronze.num_rows,
        silver.num_rows,
        quarantine.num_rows,
    )
    # The day exercises every check: each rejects or counts at least one row.
    counted = {check.name for check in result.report.checks if check.failed}
    assert counted == {
        "malformed", "type", "missing_key", "present", "in_range", "spend_cap", "plans",
        "labels", "duplicate_key", "one_plan", "spend_once", "fresh",
    }  # fmt: skip

    build_gold(lake, VIEW, INTERVAL)

    gold = lake.read(VIEW.table)
    assert sorted_rows(gold, keys) == sorted_rows(engineer_features(silver, VIEW), keys)
    assert {row["per_call"] for row in gold.to_pylist()} >= {10 / 2}


def test_a_rerun_replaces_the_interval_with_the_same_rows(context: ProjectContext) -> None:
    lake = context.lake
    land_bronze(lake, DAY)
    first = build_silver(lake, VIEW, INTERVAL, CONFIG)
    tables = [silver_table(VIEW.dataset), quarantine_table(VIEW.dataset)]
    before = [lake.fingerprint(table) for table in tables]

    again = build_silver(lake, VIEW, INTERVAL, CONFIG)

    assert [lake.fingerprint(table) for table in tables] == before
    assert (again.rows_valid, again.rows_quarantined) == (first.rows_valid, first.rows_quarantined)


def test_freshness_reads_the_newest_valid_event_from_the_counts(context: ProjectContext) -> None:
    land_bronze(context.lake, DAY)
    result = build_silver(context.lake, VIEW, INTERVAL, CONFIG)
    fresh = next(check for check in result.report.checks if check.name == "fresh")
    newest = datetime.combine(DAY, time(21), tzinfo=UTC)  # c18's event, valid once trimmed
    assert newest.isoformat() in fresh.message


def test_duckdb_reads_only_the_files_of_the_interval_a_query_filters(
    context: ProjectContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = context.lake
    land_bronze(lake, DAY)
    land_bronze(lake, DAY + timedelta(days=1))
    listed: list[tuple[str, Any, DataFiles | None]] = []
    data_files = lake_module._data_files

    def recording_data_files(loaded: Table, row_filter: Any) -> DataFiles | None:
        files = data_files(loaded, row_filter)
        listed.append((loaded.name()[-1], row_filter, files))
        return files

    monkeypatch.setattr(lake_module, "_data_files", recording_data_files)
    bronze = lake.identifier(bronze_table(VIEW.dataset))
    counted = lake.sql(
        f"SELECT count(*) AS n, count(DISTINCT customer_id) AS customers FROM {bronze} "
        f"WHERE {interval_predicate(INGEST_DATE, INTERVAL)}"
    )

    assert counted.to_pylist() == [{"n": 23, "customers": 19}]
    [(table, where, files)] = listed
    assert table == bronze_table(VIEW.dataset)
    assert where == iceberg.And(
        iceberg.GreaterThanOrEqual(term=INGEST_DATE, value=DAY.isoformat()),
        iceberg.LessThan(term=INGEST_DATE, value=(DAY + timedelta(days=1)).isoformat()),
    )
    # The manifests pruned the other day's files: DuckDB never opens them.
    assert files is not None and files.local and files.paths
    assert all(f"{INGEST_DATE}={DAY.isoformat()}" in path for path in files.paths)
    # Read twice (a self-join): DuckDB scans the files twice, the answer is the same.
    pairs = lake.sql(
        f"SELECT count(*) AS n FROM {bronze} a JOIN {bronze} b USING (_source_row, _source_file)"
    )
    assert pairs.to_pylist() == [{"n": 2 * 2 * 23}]


def test_duckdb_reads_a_column_older_files_lack_as_null(context: ProjectContext) -> None:
    lake = context.lake
    lake.create_table("widened", pa.schema([("id", pa.int64())]))
    lake.append("widened", pa.table({"id": pa.array([1, 2], pa.int64())}))
    wider = pa.schema([("id", pa.int64()), ("score", pa.float64())])
    lake.create_table("widened", wider)
    lake.append("widened", pa.table({"id": [3], "score": [0.5]}, schema=wider))

    rows = lake.sql(f"SELECT id, score FROM {lake.identifier('widened')} ORDER BY id")

    assert rows.to_pylist() == [
        {"id": 1, "score": None},
        {"id": 2, "score": None},
        {"id": 3, "score": 0.5},
    ]
    assert rows.schema.field("score").type == pa.float64()


def test_duckdb_runs_under_the_configured_memory_limit_and_spills_to_its_folder(
    context: ProjectContext, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    engine = DuckDbEngine(memory_limit="300MB", temp_directory=spill)
    lake = Lake(context.lake.catalog, context.lake.database, engine)
    found = lake.sql(
        "SELECT current_setting('memory_limit') AS memory, "
        "current_setting('temp_directory') AS folder"
    ).to_pylist()
    reference = duckdb.connect(config={"memory_limit": "300MB"})
    expected = reference.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
    reference.close()
    assert found[0]["memory"] == expected
    assert Path(found[0]["folder"]).parent == spill
    assert list(spill.iterdir()) == []  # each query's folder goes with it


def test_a_replacement_written_in_chunks_commits_every_row_in_one_transaction(
    context: ProjectContext,
) -> None:
    land_bronze(context.lake, DAY)
    whole = build_silver(context.lake, VIEW, INTERVAL, CONFIG)
    expected = context.lake.read(silver_table(VIEW.dataset))
    engine = DuckDbEngine(chunk_rows=4)
    chunked = Lake(context.lake.catalog, context.lake.database, engine)
    before = len(chunked.load(silver_table(VIEW.dataset)).history())

    again = build_silver(chunked, VIEW, INTERVAL, CONFIG)

    silver = chunked.load(silver_table(VIEW.dataset))
    keys = VIEW.key_columns
    assert sorted_rows(chunked.read(silver_table(VIEW.dataset)), keys) == sorted_rows(
        expected, keys
    )
    assert again.rows_valid == whole.rows_valid > 4
    # A delete and an append per chunk (DuckDB's batches hold at most 4 rows), committed
    # by one transaction; its last snapshot names the quarantine it goes with.
    snapshot = silver.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert len(silver.history()) - before >= 1 + -(-whole.rows_valid // 4)
    assert snapshot.summary["paired-interval"] == str(INTERVAL)
