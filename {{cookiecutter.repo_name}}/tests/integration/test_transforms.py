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

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.intervals import DataInterval
from src.data.lake import DuckDbEngine, Lake, interval_predicate
from src.data.quality import REJECT_REASON, REJECT_RULE, QualityReport, check_freshness
from src.data.tables import bronze_table, quarantine_table, silver_table
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


def test_duckdb_scans_only_the_interval_and_the_columns_a_query_needs(
    context: ProjectContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = context.lake
    land_bronze(lake, DAY)
    land_bronze(lake, DAY + timedelta(days=1))
    scans: list[tuple[str, Any, Any]] = []
    scan = Lake.scan

    def recording_scan(self: Lake, table: str, where: Any = None, columns: Any = None) -> Any:
        scans.append((table, where, columns))
        return scan(self, table, where=where, columns=columns)

    monkeypatch.setattr(Lake, "scan", recording_scan)
    bronze = lake.identifier(bronze_table(VIEW.dataset))
    counted = lake.sql(
        f"SELECT count(*) AS n, count(DISTINCT customer_id) AS customers FROM {bronze} "
        f"WHERE {interval_predicate(INGEST_DATE, INTERVAL)}"
    )

    assert counted.to_pylist() == [{"n": 23, "customers": 19}]
    [(table, where, columns)] = scans
    assert table == bronze_table(VIEW.dataset)
    assert columns == ("customer_id", INGEST_DATE)
    assert where == iceberg.And(
        iceberg.GreaterThanOrEqual(term=INGEST_DATE, value=DAY.isoformat()),
        iceberg.LessThan(term=INGEST_DATE, value=(DAY + timedelta(days=1)).isoformat()),
    )
    # Read twice (a self-join): loaded whole into DuckDB's table, the answer is the same.
    pairs = lake.sql(
        f"SELECT count(*) AS n FROM {bronze} a JOIN {bronze} b USING (_source_row, _source_file)"
    )
    assert pairs.to_pylist() == [{"n": 2 * 2 * 23}]


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
