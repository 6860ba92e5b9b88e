"""The medallion pipeline on a real PyIceberg SQL catalog and DuckDB.

The bad-input tests land crafted raw files next to good ones and check, row by row, that
every good row reaches gold exactly once and every bad one is quarantined or refused
with a reason.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Fingerprint, Lake
from src.data.quality import (
    AllowedValuesRule,
    DataQualityError,
    FreshnessRule,
    NotNullRule,
    QualityConfig,
    RangeRule,
    SchemaRule,
    UniqueRule,
)
from src.data.sample_data import SAMPLE_DAYS
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.bronze import REASON_SUFFIX, refused_file_key
from src.pipelines.DE.pipeline import STEPS, DataPipelineResult, Step, run_data_pipeline
from tests.conftest import SAMPLE_END, build_sample_lake, isolated_settings

pytestmark = pytest.mark.integration
SAMPLE_INTERVAL = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)
DAY = date(2025, 2, 10)
# Rules that every crafted good row passes, whichever sample view the project has.
RULES = QualityConfig(
    rules=[
        SchemaRule(name="raw_schema", type="schema", action="quarantine"),
        NotNullRule(name="features_present", type="not_null", columns=["$features"]),
        RangeRule(name="non_negative", type="range", columns=["$features"], min=0),
    ]
)


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> ProjectContext:
    """The sample lake, shared: the tests using it leave its content as they found it."""
    context = ProjectContext(isolated_settings(tmp_path_factory.mktemp("sample_lake")))
    build_sample_lake(context)
    return context


def fingerprints(lake: Lake, view: FeatureView) -> dict[str, Fingerprint]:
    tables = [bronze_table(view.dataset), silver_table(view.dataset)]
    tables += [quarantine_table(view.dataset), view.table]
    return {table: lake.fingerprint(table, exclude=["_ingested_at"]) for table in tables}


def run(
    context: ProjectContext,
    interval: DataInterval,
    quality: QualityConfig,
    steps: tuple[Step, ...] = STEPS,
) -> DataPipelineResult:
    return run_data_pipeline(
        context.lake,
        context.store,
        context.view,
        context.settings.aws.s3.raw_prefix,
        interval,
        quality=quality,
        quality_prefix=context.settings.aws.s3.quality_prefix,
        steps=steps,
    )


def header(view: FeatureView) -> list[str]:
    return [*view.key_columns, *view.feature_names, view.label.name]


def good_row(view: FeatureView, number: int) -> list[str]:
    """A row every rule accepts: positive features, label 1 (a valid class and value)."""
    features = [f"{1 + (number * 7 + i) % 5}.5" for i in range(len(view.features))]
    return [f"E{number:05d}", f"2025-02-10T{number % 24:02d}:00:00+0000", *features, "1"]


def csv_text(*lines: list[str]) -> bytes:
    return ("\n".join(",".join(line) for line in lines) + "\n").encode()


def land(context: ProjectContext, name: str, content: bytes, day: date = DAY) -> str:
    view = context.view
    prefix = context.settings.aws.s3.raw_prefix
    key = f"{prefix}/{view.dataset}/ingest_date={day.isoformat()}/{name}"
    context.store.put_bytes(key, content)
    return context.store.uri(key)


def gold_entities(context: ProjectContext) -> list[str]:
    gold = context.lake.read(context.view.table, columns=[context.view.entity.name])
    return sorted(str(entity) for entity in gold.column(0).to_pylist())


def quarantined(context: ProjectContext) -> pd.DataFrame:
    frame: pd.DataFrame = context.lake.read(quarantine_table(context.view.dataset)).to_pandas()
    return frame


def assert_reconciles(context: ProjectContext, interval: DataInterval) -> None:
    where = interval.filter(INGEST_DATE)
    dataset = context.view.dataset
    counts = {
        table: context.lake.read(table, where=where, columns=[INGEST_DATE]).num_rows
        for table in (bronze_table(dataset), silver_table(dataset), quarantine_table(dataset))
    }
    assert counts[bronze_table(dataset)] == (
        counts[silver_table(dataset)] + counts[quarantine_table(dataset)]
    )


def test_sample_data_reaches_gold_and_reconciles(sample_lake: ProjectContext) -> None:
    view = sample_lake.view
    lake = sample_lake.lake
    assert_reconciles(sample_lake, SAMPLE_INTERVAL)
    gold = lake.read(view.table).num_rows
    assert gold == lake.read(silver_table(view.dataset)).num_rows > 400
    assert lake.read(quarantine_table(view.dataset)).num_rows == 0


@pytest.mark.parametrize("step", STEPS)
def test_rerunning_any_step_leaves_identical_tables(
    sample_lake: ProjectContext, step: Step
) -> None:
    before = fingerprints(sample_lake.lake, sample_lake.view)
    result = run(sample_lake, SAMPLE_INTERVAL, quality=sample_lake.quality, steps=(step,))
    if result.bronze:
        assert (result.bronze.files_ingested, result.bronze.files_skipped) == (0, SAMPLE_DAYS)
    assert fingerprints(sample_lake.lake, sample_lake.view) == before


def test_every_run_writes_a_quality_report(sample_lake: ProjectContext) -> None:
    result = run(sample_lake, DataInterval.for_day(SAMPLE_END - timedelta(days=1)),
                 quality=sample_lake.quality)  # fmt: skip
    silver_report = Path(result.reports[1].removeprefix("file://"))
    report = json.loads(silver_report.read_text())
    assert report["step"] == "silver"
    assert report["status"] == "passed"
    assert report["rows_in"] == report["rows_valid"] > 0
    names = {check["name"] for check in report["checks"]}
    assert {rule.name for rule in sample_lake.quality.rules} - {"raw_schema"} <= names
    assert {"malformed", "type", "missing_key", "duplicate_key"} <= names


def test_bad_rows_are_quarantined_and_every_good_row_reaches_gold_once(
    context: ProjectContext,
) -> None:
    view = context.view
    columns = header(view)
    good = [good_row(view, n) for n in range(6)]
    too_many = [*good_row(view, 90), "surplus"]
    too_few = good_row(view, 91)[:3]
    not_a_number = good_row(view, 92)
    not_a_number[2] = "abc"
    not_a_date = good_row(view, 93)
    not_a_date[1] = "yesterday"
    negative = good_row(view, 94)
    negative[3] = "-4.0"
    no_entity = good_row(view, 95)
    no_entity[0] = ""
    missing_feature = good_row(view, 96)
    missing_feature[2] = ""
    land(context, "a.csv", csv_text(columns, *good[:3], too_many, not_a_number, good[0]))
    land(context, "b.csv", csv_text(columns, *good[3:], too_few, not_a_date, negative,
                                     no_entity, missing_feature))  # fmt: skip

    result = run(context, DataInterval.for_day(DAY), quality=RULES)

    assert gold_entities(context) == sorted(row[0] for row in good)
    assert result.silver and result.silver.rows_quarantined == 8
    assert_reconciles(context, DataInterval.for_day(DAY))
    rejected = quarantined(context)
    rules: dict[str, list[str]] = {
        str(rule): list(group["_reason"]) for rule, group in rejected.groupby("_rule")
    }
    assert sorted(rules) == [
        "duplicate_key", "features_present", "malformed", "missing_key", "non_negative", "type",
    ]  # fmt: skip
    assert len(rules["malformed"]) == 2
    assert any("surplus" in reason for reason in rules["malformed"])
    assert sorted(rules["type"]) == sorted(
        [
            f"{view.event_timestamp} = yesterday is not a valid timestamp",
            f"{view.features[0].name} = abc is not a valid float64",
        ]
    )
    assert rules["non_negative"] == [f"{view.features[1].name} = -4.0 is below the minimum 0"]
    assert rules["features_present"] == [f"{view.features[0].name} is empty"]
    assert rules["duplicate_key"] == [
        f"duplicate of a later ingested row with the same {', '.join(view.key_columns)}"
    ]
    raw_lines = quarantined(context)["_raw_line"].dropna().tolist()
    assert ",".join(too_few) in raw_lines


def test_a_wrong_dtype_in_an_integer_column_is_not_rounded(context: ProjectContext) -> None:
    view = context.view
    if view.label.dtype != "int64":
        pytest.skip("the label of this project is not an integer")
    row = good_row(view, 1)
    row[-1] = "1.5"
    land(context, "a.csv", csv_text(header(view), row, good_row(view, 2)))
    run(context, DataInterval.for_day(DAY), quality=RULES)
    assert gold_entities(context) == ["E00002"]
    assert quarantined(context)["_rule"].tolist() == ["type"]


def test_files_missing_columns_or_empty_are_refused_and_the_rest_goes_through(
    context: ProjectContext,
) -> None:
    view = context.view
    good = [good_row(view, n) for n in range(3)]
    land(context, "good.csv", csv_text(header(view), *good))
    missing = land(context, "missing.csv", b"patient_id,event_timestamp\nP1,2025-02-10T00:00:00Z\n")
    empty = land(context, "empty.csv", b"")
    land(context, "header_only.csv", csv_text(header(view)))
    not_csv = land(context, "notes.txt", b"hello")
    land(context, "_SUCCESS", b"")

    result = run(context, DataInterval.for_day(DAY), quality=RULES)

    message = "\n".join(result.refusals())
    assert f"raw file {missing} misses columns: {view.features[0].name}" in message
    assert f"raw file {empty} is empty" in message
    assert f"raw file {not_csv} is not a CSV, Parquet or JSON Lines file" in message
    assert "header_only" not in message
    assert gold_entities(context) == sorted(row[0] for row in good)
    # Each refused file is quarantined whole, its reason beside it; the raw zone keeps it.
    store, prefix = context.store, context.settings.aws.s3.quality_prefix
    assert result.bronze is not None
    for refused, content in ((missing, b"patient_id,event_timestamp\nP1,2025-02-10T00:00:00Z\n"),
                             (empty, b""), (not_csv, b"hello")):  # fmt: skip
        key = refused_file_key(prefix, view.dataset, DAY, refused.rsplit("/", 1)[-1])
        assert store.get_bytes(key) == content
        note = json.loads(store.get_bytes(key + REASON_SUFFIX))
        assert note["rule"] == "raw_schema"
        assert note["reason"] == result.bronze.rejected[refused]
        assert f"quarantined whole: {store.uri(key)}" in message


def test_a_blocking_schema_rule_stops_before_silver(context: ProjectContext) -> None:
    view = context.view
    land(context, "good.csv", csv_text(header(view), good_row(view, 1)))
    missing = land(context, "missing.csv", b"a,b\n1,2\n")
    blocking = QualityConfig(rules=[SchemaRule(name="contract", type="schema", action="block")])

    with pytest.raises(DataQualityError) as raised:
        run(context, DataInterval.for_day(DAY), quality=blocking)

    assert f"rule 'contract' (schema) refused 1 file(s): raw file {missing}" in str(raised.value)
    assert context.lake.read(bronze_table(view.dataset)).num_rows == 1
    assert not context.lake.table_exists(silver_table(view.dataset))


def test_the_same_file_twice_is_ingested_once(context: ProjectContext) -> None:
    view = context.view
    content = csv_text(header(view), *(good_row(view, n) for n in range(4)))
    land(context, "first.csv", content)
    first = run(context, DataInterval.for_day(DAY), quality=RULES)
    land(context, "copy.csv", content)
    land(context, "copy_next_day.csv", content, day=DAY + timedelta(days=1))
    again = run(context, DataInterval(DAY, DAY + timedelta(days=2)), quality=RULES)

    assert first.bronze and (first.bronze.files_ingested, first.bronze.rows) == (1, 4)
    assert again.bronze and (again.bronze.files_ingested, again.bronze.files_skipped) == (0, 3)
    assert gold_entities(context) == [f"E{n:05d}" for n in range(4)]
    assert context.lake.read(bronze_table(view.dataset)).num_rows == 4


def test_a_corrected_file_replaces_the_rows_it_corrects(context: ProjectContext) -> None:
    view = context.view
    rows = [good_row(view, n) for n in range(3)]
    land(context, "day.csv", csv_text(header(view), *rows))
    run(context, DataInterval.for_day(DAY), quality=RULES)
    rows[1][2] = "4.25"
    land(context, "day.csv", csv_text(header(view), *rows))
    run(context, DataInterval.for_day(DAY), quality=RULES)

    gold = context.lake.read(view.table).to_pandas().set_index(view.entity.name)
    assert len(gold) == 3
    assert gold.loc["E00001", view.features[0].name] == 4.25
    assert quarantined(context)["_rule"].tolist() == ["duplicate_key"] * 3
    assert_reconciles(context, DataInterval.for_day(DAY))


def test_a_blocking_row_rule_names_rule_column_and_count(context: ProjectContext) -> None:
    view = context.view
    rows = [good_row(view, n) for n in range(4)]
    rows[0][-1] = rows[2][-1] = "7"
    land(context, "day.csv", csv_text(header(view), *rows))
    blocking = QualityConfig(
        rules=[
            AllowedValuesRule(name="label_classes", type="allowed_values",
                              column=view.label.name, values=[0, 1], action="block"),
        ]
    )  # fmt: skip

    with pytest.raises(DataQualityError) as raised:
        run(context, DataInterval.for_day(DAY), quality=blocking)

    assert (
        f"rule 'label_classes' (allowed_values) failed on column {view.label.name}: 2 rows"
        in str(raised.value)
    )
    assert not context.lake.table_exists(silver_table(view.dataset))
    report_uri = str(raised.value).rsplit("(report: ", 1)[1].rstrip(")")
    report = json.loads(Path(report_uri.removeprefix("file://")).read_text())
    assert report["status"] == "blocked"


def test_freshness_warns_without_stopping(context: ProjectContext) -> None:
    view = context.view
    land(context, "day.csv", csv_text(header(view), good_row(view, 1)))
    stale = QualityConfig(
        rules=[FreshnessRule(name="fresh", type="freshness", max_age_hours=1, action="warn")]
    )
    result = run(context, DataInterval.for_day(DAY), quality=stale)
    assert result.silver and result.silver.report.status == "warned"
    assert gold_entities(context) == ["E00001"]


def test_a_warning_unique_rule_counts_repeated_values_not_missing_ones(
    context: ProjectContext,
) -> None:
    view = context.view
    rows = [good_row(view, n) for n in range(4)]
    feature = view.feature_names[0]
    column = header(view).index(feature)
    rows[0][column] = rows[1][column] = ""  # missing twice: not a duplicate
    rows[2][column] = rows[3][column] = "9.5"  # the same value twice: one duplicate
    land(context, "day.csv", csv_text(header(view), *rows))
    unique = QualityConfig(
        rules=[UniqueRule(name="distinct", type="unique", columns=[feature], action="warn")]
    )

    result = run(context, DataInterval.for_day(DAY), quality=unique)

    assert result.silver is not None
    (check,) = [c for c in result.silver.report.checks if c.name == "distinct"]
    assert (check.status, check.failed) == ("warned", 1)
    assert len(gold_entities(context)) == 4, "a warning keeps every row"


def test_sql_runs_on_duckdb_over_the_iceberg_tables(sample_lake: ProjectContext) -> None:
    lake = sample_lake.lake
    table = f"{lake.database}.{sample_lake.view.table}"
    result = lake.sql(f"SELECT COUNT(*) AS n FROM {table}").to_pylist()
    assert result == [{"n": lake.read(sample_lake.view.table).num_rows}]


def test_parquet_and_json_lines_files_reach_gold_like_csv(context: ProjectContext) -> None:
    view = context.view
    names = header(view)
    rows = [good_row(view, n) for n in range(6)]
    typed = pd.DataFrame([row[:2] + [float(v) for v in row[2:-1]] + [1] for row in rows[:3]])
    typed.columns = names
    typed[view.event_timestamp] = pd.to_datetime(typed[view.event_timestamp], utc=True)
    land(context, "part.parquet", typed.to_parquet(index=False))
    records = [json.dumps(dict(zip(names, row, strict=True))) for row in rows[3:]]
    land(context, "part.jsonl", ("\n".join([*records, "not json"]) + "\n").encode())

    run(context, DataInterval.for_day(DAY), quality=RULES)

    assert gold_entities(context) == sorted(row[0] for row in rows)
    assert quarantined(context)["_rule"].tolist() == ["malformed"]


def test_a_derived_feature_is_computed_in_gold_from_raw_columns(context: ProjectContext) -> None:
    view = context.view
    first, last = view.features[0], view.features[-1]
    derived = last.model_copy(update={"expression": f"{first.name} * 2"})
    source = first.model_copy(update={"name": "raw_only_input", "description": "not a feature"})
    custom = view.model_copy(
        update={"features": [*view.features[:-1], derived], "source_columns": [source]}
    )
    names = [*custom.key_columns, *(column.name for column in custom.raw_columns)]
    assert last.name not in names  # the raw files need not carry the derived feature
    rows = [good_row(view, n) for n in range(3)]
    land(context, "rows.csv", csv_text(names, *([*row[:-2], "9.5", row[-1]] for row in rows)))

    run_data_pipeline(
        context.lake,
        context.store,
        custom,
        context.settings.aws.s3.raw_prefix,
        DataInterval.for_day(DAY),
        quality=RULES,
        quality_prefix=context.settings.aws.s3.quality_prefix,
    )

    gold = context.lake.read(custom.table).to_pandas()
    assert len(gold) == 3
    assert (gold[last.name] == gold[first.name] * 2).all()
    assert "raw_only_input" not in gold.columns
