"""Bronze -> silver -> gold on the embedded lake, with data made from the project's own
contract (config/features.yaml), so these hold for whatever dataset it describes."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pandas as pd
import pytest

from src.context import ProjectContext
from src.data.aws_integration import read_bytes, write_bytes
from src.data.feature_store import Column
from src.data.intervals import DataInterval
from src.data.quality import QualityConfig
from src.errors import DataValidationError
from src.names import quarantine_table
from src.pipelines.DE.bronze import raw_day_prefix
from src.pipelines.DE.pipeline import fingerprint_steps, read_blocked, report_key
from tests.conftest import (
    SAMPLE_DAYS,
    SAMPLE_END,
    build_sample_lake,
    land_raw_frame,
    synthesize_rows,
)

INTERVAL = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)


def tables(context: ProjectContext) -> list[dict[str, int | str]]:
    return fingerprint_steps(context.lake, context.view, ("bronze", "silver", "gold"))


def test_contract_data_reaches_gold_once_and_reruns_change_nothing(context: ProjectContext) -> None:
    build_sample_lake(context)
    key = report_key("quality", context.view.dataset, "silver", INTERVAL)
    report = json.loads(read_bytes(context.store, key))
    assert report["rows_in"] == 600 and report["files_refused"] == {}
    assert report["rows_valid"] + report["rows_quarantined"] + report["duplicates"] == 600
    assert report["gold_rows"] == report["rows_valid"] > 0
    first = tables(context)
    context.run_data_pipeline(INTERVAL)
    assert tables(context) == first


def first_column(context: ProjectContext, kind: str) -> Column:
    """The contract's first measured feature of a kind; the contract decides what applies."""
    for column in context.view.raw_columns:
        if column.name == context.view.label.name or column.expression:
            continue
        if (kind == "number" and column.is_numeric) or (kind == "values" and column.values):
            return column
    pytest.skip(f"the contract has no feature with {kind}")  # pragma: no cover


def test_rows_breaking_the_contract_are_quarantined_with_their_reasons(
    context: ProjectContext,
) -> None:
    frame = synthesize_rows(context.view, rows=40)
    number = first_column(context, "number")
    frame[number.name] = frame[number.name].astype(object)
    frame.loc[0, number.name] = "not-a-number"
    frame.loc[1, context.view.entity.name] = None
    land_raw_frame(context, frame)
    report = context.run_data_pipeline(INTERVAL)
    rejected = context.lake.read(quarantine_table(context.view.dataset)).to_pylist()
    reasons = {row["_rule"]: row["_reason"] for row in rejected}
    assert reasons[number.name] == f"{number.name} = not-a-number is not of type {number.dtype}"
    assert reasons["missing_key"] == f"{context.view.entity.name} is missing"
    assert report.rows_quarantined == 2 and report.gold_rows == 38


def test_csv_parquet_json_lines_and_gzip_files_give_the_same_silver_rows(
    context: ProjectContext,
) -> None:
    frame = synthesize_rows(context.view, rows=60)
    days = frame[context.view.event_timestamp].dt.date
    for suffix, part in zip(
        (".csv", ".parquet", ".jsonl"), (frame[days == d] for d in sorted(set(days))), strict=False
    ):
        land_raw_frame(context, part, suffix)
    gzipped = frame[days == sorted(set(days))[3]]
    key = f"{raw_day_prefix('raw', context.view.dataset, sorted(set(days))[3])}/part.csv.gz"
    write_bytes(context.store, key, gzip.compress(gzipped.to_csv(index=False).encode()))
    report = context.run_data_pipeline(DataInterval(min(days), max(days) + timedelta(days=1)))
    expected = sum(len(frame[days == d]) for d in sorted(set(days))[:4])
    assert report.rows_quarantined == 0 and report.rows_valid == expected, report


def test_a_file_without_the_contract_columns_blocks_when_told_to(context: ProjectContext) -> None:
    # Quarantined whole by default: test_makefile.py runs that through `make data-pipeline`.
    bad = f"{raw_day_prefix('raw', context.view.dataset, INTERVAL.start)}/broken.csv"
    write_bytes(context.store, bad, b"something,else\n1,2\n")
    context.quality = QualityConfig(raw_files="block")
    day = DataInterval.for_day(INTERVAL.start)
    with pytest.raises(DataValidationError, match=r"broken\.csv misses columns"):
        context.run_data_pipeline(day)
    # The batch DAG's sensor fails at once on what the report says blocked the day.
    [blocked] = read_blocked(context.store, "quality", context.view.dataset, day)
    assert blocked.startswith(f"{bad} misses columns"), blocked


def test_a_derived_feature_is_computed_in_gold(context: ProjectContext) -> None:
    number = first_column(context, "number")
    derived = Column(name="derived_twice", dtype="float64", expression=f"{number.name} * 2")
    context.view = context.view.model_copy(update={"features": [*context.view.features, derived]})
    build_sample_lake(context)
    gold = context.lake.read(context.view.table, columns=[number.name, "derived_twice"]).to_pandas()
    pd.testing.assert_series_equal(gold["derived_twice"], gold[number.name] * 2, check_names=False)
