"""The medallion pipeline on a real PyIceberg SQL catalog and DuckDB."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from src.context import ProjectContext
from src.data.intervals import DataInterval
from src.data.sample_data import SAMPLE_DAYS, raw_key
from src.data.tables import bronze_table, quarantine_table, silver_table
from src.errors import DataValidationError
from src.pipelines.DE.pipeline import run_data_pipeline
from tests.conftest import SAMPLE_END

pytestmark = pytest.mark.integration
SAMPLE_INTERVAL = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)


def checksum(context: ProjectContext, table: str, order: list[str]) -> tuple[int, str]:
    frame = context.lake.read(table).to_pandas().sort_values(order, ignore_index=True)
    frame = frame.drop(columns=[c for c in frame.columns if c == "_ingested_at"])
    return len(frame), hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def test_sample_data_reaches_gold_and_reconciles(lake_context: ProjectContext) -> None:
    view = lake_context.view
    lake = lake_context.lake
    bronze = lake.read(bronze_table(view.dataset)).num_rows
    silver = lake.read(silver_table(view.dataset)).num_rows
    quarantined = lake.read(quarantine_table(view.dataset)).num_rows
    gold = lake.read(view.table).num_rows
    assert bronze == silver + quarantined
    assert gold == silver > 400


def test_rerunning_an_interval_leaves_identical_tables(lake_context: ProjectContext) -> None:
    view = lake_context.view
    keys = view.key_columns
    before = {t: checksum(lake_context, t, keys) for t in (silver_table(view.dataset), view.table)}
    result = run_data_pipeline(
        lake_context.lake,
        lake_context.store,
        view,
        lake_context.settings.aws.s3.raw_prefix,
        SAMPLE_INTERVAL,
    )
    assert result.bronze.files_ingested == 0
    assert result.bronze.files_skipped == SAMPLE_DAYS
    after = {t: checksum(lake_context, t, keys) for t in before}
    assert after == before


def test_bad_rows_go_to_quarantine_with_their_rule(lake_context: ProjectContext) -> None:
    view = lake_context.view
    day = SAMPLE_END
    header = ",".join([*view.key_columns, *view.feature_names, view.label.name])
    good = ",".join(["P900001", "2025-01-31T10:00:00+0000", *["1.5"] * len(view.features), "1"])
    not_a_number = ",".join(
        ["P900002", "2025-01-31T11:00:00+0000", "abc", *["1"] * len(view.features)]
    )
    no_entity = ",".join(["", "2025-01-31T12:00:00+0000", *["1"] * (len(view.features) + 1)])
    content = "\n".join([header, good, good, not_a_number, no_entity]) + "\n"
    lake_context.store.put_bytes(
        raw_key(lake_context.settings.aws.s3.raw_prefix, view.dataset, day), content.encode()
    )
    result = run_data_pipeline(
        lake_context.lake,
        lake_context.store,
        view,
        lake_context.settings.aws.s3.raw_prefix,
        DataInterval.for_day(day),
    )
    assert (result.silver.rows_in, result.silver.rows_valid, result.silver.rows_quarantined) == (
        4,
        1,
        3,
    )
    rules = sorted(
        lake_context.lake.read(quarantine_table(view.dataset), where="ingest_date = '2025-01-31'")
        .column("_rule")
        .to_pylist()
    )
    assert rules == ["not_null", "type", "unique"]


def test_a_file_missing_columns_is_refused_by_name(lake_context: ProjectContext) -> None:
    view = lake_context.view
    key = raw_key(lake_context.settings.aws.s3.raw_prefix, view.dataset, SAMPLE_END)
    lake_context.store.put_bytes(key, b"patient_id,event_timestamp\nP1,2025-01-31T00:00:00Z\n")
    with pytest.raises(DataValidationError, match=f"misses columns: {view.features[0].name}"):
        run_data_pipeline(
            lake_context.lake,
            lake_context.store,
            view,
            lake_context.settings.aws.s3.raw_prefix,
            DataInterval.for_day(SAMPLE_END),
        )


def test_sql_runs_on_duckdb_over_the_iceberg_tables(lake_context: ProjectContext) -> None:
    lake = lake_context.lake
    table = f"{lake.database}.{lake_context.view.table}"
    result = lake.sql(f"SELECT COUNT(*) AS n FROM {table}").to_pylist()
    assert result == [{"n": lake.read(lake_context.view.table).num_rows}]
