"""The contract and the checks judge bronze rows on their way to silver (src/data/quality.py),
in DuckDB over an Arrow table standing in for bronze, on a small view with every dtype and
every kind of contract; the pipeline tests run them over the project's own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
import yaml

from src.data.feature_store import FeatureView, TrainingSample, training_set_query
from src.data.lake import transpile_to_athena
from src.data.quality import (
    Check,
    QualityConfig,
    QualityReport,
    build_silver_queries,
    load_quality_config,
)
from src.errors import ConfigError, DataValidationError
from src.pipelines.DE.bronze import bronze_schema
from src.pipelines.DE.pipeline import gold_query

VIEW = FeatureView.model_validate(
    {
        "name": "view",
        "dataset": "things",
        "entity": {"name": "id", "dtype": "string"},
        "event_timestamp": "ts",
        "label": {"name": "y", "dtype": "int64", "values": [0, 1]},
        "features": [
            {"name": "x", "dtype": "float64", "min": 0, "max": 10},
            {"name": "n", "dtype": "int64", "nullable": True},
            {"name": "c", "dtype": "string", "values": ["a", "b"]},
            {"name": "f", "dtype": "bool", "nullable": True},
        ],
    }
)
GOOD = {
    "id": "A",
    "ts": "2025-01-01T10:00:00+00:00",
    "x": "1.5",
    "n": "3",
    "c": "a",
    "f": "true",
    "y": "1",
}


def judge(rows: list[dict[str, Any]], config: QualityConfig) -> dict[str, list[dict[str, Any]]]:
    """Counts, silver and quarantine of `rows` (bronze text; later rows ingested later)."""
    day = datetime(2025, 1, 1).date()
    lineage = {"_source_file": "f.csv", "_raw_line": None, "ingest_date": day}
    table = pa.Table.from_pylist(
        [{**lineage, "_source_row": n, "_ingested_at": datetime(2025, 1, 1, n, tzinfo=UTC), **row}
         for n, row in enumerate(rows)],
        schema=bronze_schema(VIEW),
    )  # fmt: skip
    queries = build_silver_queries(VIEW, config, "bronze", "TRUE")
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("bronze", table)
    return {name: connection.sql(getattr(queries, name)).to_arrow_table().to_pylist()
            for name in ("counts", "silver", "quarantine")}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "rule", "reason"),
    [
        ({"x": "abc"}, "x", "x = abc is not of type float64"),
        ({"x": "-1"}, "x", "x = -1 is below the minimum 0"),
        ({"x": "11"}, "x", "x = 11 is above the maximum 10"),
        ({"x": " "}, "x", "x is missing"),
        ({"n": "1.5"}, "n", "n = 1.5 is not of type int64"),
        ({"c": "z"}, "c", "c = z is not one of a, b"),
        ({"f": "maybe"}, "f", "f = maybe is not of type bool"),
        ({"id": ""}, "missing_key", "id is missing"),
        ({"ts": "yesterday"}, "missing_key", "ts = yesterday is not of type timestamp"),
        ({"_raw_line": "A,1,2"}, "malformed", "line does not parse: A,1,2"),
    ],
)
def test_a_row_breaking_the_contract_is_quarantined_with_its_reason(
    change: dict[str, str], rule: str, reason: str
) -> None:
    run = judge([GOOD, {**GOOD, "id": "B", **change}], QualityConfig())
    assert [row["id"] for row in run["silver"]] == ["A"]
    (rejected,) = run["quarantine"]
    assert (rejected["_rule"], rejected["_reason"]) == (rule, reason)
    assert run["counts"][0]["rows_quarantined"] == 1


def test_missing_nullable_values_pass_and_the_latest_copy_of_a_key_wins() -> None:
    run = judge([GOOD, {**GOOD, "n": "", "f": "", "x": "2"}], QualityConfig())
    assert run["quarantine"] == []
    (row,) = run["silver"]
    assert (row["x"], row["n"], row["f"]) == (2.0, None, None)


def test_a_label_outside_its_values_blocks_and_warned_rows_stay() -> None:
    run = judge([GOOD, {**GOOD, "id": "B", "y": "2", "x": "-3"}], QualityConfig(features="warn"))
    assert len(run["silver"]) == 2 and run["quarantine"] == []
    counts = run["counts"][0]
    failed = {"y": counts["check_y"], "x": counts["check_x"]}
    report = QualityReport("things", "today", failed=failed, actions={"y": "block", "x": "warn"})
    assert report.problems("warn") == ["check 'x' failed on 1 rows"]
    with pytest.raises(DataValidationError, match="check 'y' failed on 1 rows"):
        report.raise_if_blocked(QualityConfig())


def test_a_teams_check_is_sql_over_silver_columns_with_its_own_action() -> None:
    check = Check(name="x_below_n", condition="x < n", action="quarantine")
    run = judge([GOOD, {**GOOD, "id": "B", "x": "5"}], QualityConfig(checks=[check]))
    assert [row["id"] for row in run["silver"]] == ["A"]
    assert run["quarantine"][0]["_rule"] == "x_below_n"


@pytest.mark.parametrize(
    ("condition", "message"),
    [("x <", "is not valid SQL"), ("weight > 0", "names columns that are not silver's: weight")],
)
def test_a_check_that_cannot_run_is_refused_when_the_config_loads(
    tmp_path: Path, condition: str, message: str
) -> None:
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump({"checks": [{"name": "bad", "condition": condition}]}))
    with pytest.raises(ConfigError, match=message):
        load_quality_config(path, VIEW)


def test_every_query_the_lake_runs_has_an_athena_form(project_view: FeatureView) -> None:
    queries = build_silver_queries(project_view, QualityConfig(), "db.bronze", "TRUE")
    sample = TrainingSample(max_rows=100, seed=1, stratified=True)
    for sql in [queries.counts, queries.silver, queries.quarantine,
                gold_query(project_view, "db.silver", "TRUE"),
                training_set_query(project_view, "db.gold", sample)]:  # fmt: skip
        assert sqlglot.parse_one(transpile_to_athena(sql), read="trino") is not None
