"""The data pipeline of one interval, bronze (bronze.py) -> silver -> gold, each step
rerunnable; bronze and silver write the quality report, also when a blocking check stops them.
"""

import json
from collections.abc import Sequence
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from src.data.aws_integration import list_keys, read_bytes, write_bytes
from src.data.feature_store import INGEST_DATE, SQL_TYPES, FeatureView, quote_identifier
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.quality import (
    INGESTED_AT,
    QualityConfig,
    QualityReport,
    build_silver_queries,
    quarantine_schema,
)
from src.errors import ConfigError, ProjectError
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.bronze import ingest_bronze

Step = Literal["bronze", "silver", "gold"]
STEPS: tuple[Step, ...] = ("bronze", "silver", "gold")
# Nullable pandas dtypes whether or not a batch holds a null: otherwise a column's values
# hash differently in a batch with a gap (object, float) than in one without (bool, int).
NULLABLE_DTYPES = {pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype()}


def fingerprint_steps(
    lake: Lake, view: FeatureView, steps: Sequence[Step]
) -> list[dict[str, int | str]]:
    """Rows and an order-independent checksum of each step's tables (ingestion time aside):
    what a DVC stage records, so the next stage reruns only when the content changed."""
    tables = {"bronze": [bronze_table(view.dataset)], "gold": [view.table],
              "silver": [silver_table(view.dataset), quarantine_table(view.dataset)]}  # fmt: skip
    found: list[dict[str, int | str]] = []
    for table in (table for step in steps for table in tables[step]):
        columns = [name for name in lake.load(table).schema().column_names if name != INGESTED_AT]
        rows, total = 0, 0
        for batch in lake.stream(table, columns=columns):
            frame = batch.to_pandas(types_mapper=NULLABLE_DTYPES.get)
            rows += len(frame)
            total = (total + int(pd.util.hash_pandas_object(frame, index=False).sum())) % 2**64
        found.append({"table": table, "rows": rows, "checksum": f"{total:016x}"})
    return found


def build_silver(
    lake: Lake, view: FeatureView, config: QualityConfig, interval: DataInterval,
    report: QualityReport,
) -> None:  # fmt: skip
    """Replace silver's and quarantine's interval with bronze's rows typed, judged
    (src/data/quality.py) and deduplicated; the counts come first, so a blocking failure
    stops the step before anything is written."""
    queries = build_silver_queries(
        view, config, lake.identifier(bronze_table(view.dataset)), interval.sql(INGEST_DATE)
    )
    (counts,) = lake.sql(queries.counts).to_pylist()
    report.rows_in, report.rows_quarantined = counts["rows_in"], counts["rows_quarantined"]
    report.failed = {name: int(counts[f"check_{name}"]) for name in queries.actions}
    report.actions = dict(queries.actions)
    report.raise_if_blocked(config)
    silver, quarantine = silver_table(view.dataset), quarantine_table(view.dataset)
    lake.create_table(silver, view.silver_schema(), partition_by=INGEST_DATE)
    lake.create_table(quarantine, quarantine_schema(view), partition_by=INGEST_DATE)
    lake.replace_from_query(quarantine, queries.quarantine, interval, INGEST_DATE)
    report.rows_valid = lake.replace_from_query(silver, queries.silver, interval, INGEST_DATE)
    report.duplicates = report.rows_in - report.rows_quarantined - report.rows_valid


def gold_query(view: FeatureView, silver: str, interval_sql: str) -> str:
    """Silver rows of the interval as feature-view rows: keys, features (a derived one is its
    `expression` cast to its dtype), label, ingest date."""
    derived = {feature.name: feature for feature in view.features if feature.expression}
    columns = [
        f"CAST(({derived[name].expression}) AS {SQL_TYPES[derived[name].dtype]}) "
        f"AS {quote_identifier(name)}"
        if name in derived
        else quote_identifier(name)
        for name in view.arrow_schema().names
    ]
    return f"SELECT {', '.join(columns)} FROM {silver} WHERE {interval_sql}"  # noqa: S608  # nosec B608


def build_gold(lake: Lake, view: FeatureView, interval: DataInterval) -> int:
    """Replace gold's interval with silver's rows as features; returns its rows."""
    silver = lake.identifier(silver_table(view.dataset))
    lake.create_table(view.table, view.arrow_schema(), partition_by=INGEST_DATE)
    query = gold_query(view, silver, interval.sql(INGEST_DATE))
    try:
        return lake.replace_from_query(view.table, query, interval, INGEST_DATE)
    except ProjectError as error:
        names = ", ".join(feature.name for feature in view.features if feature.expression)
        if not names:
            raise
        raise ConfigError(f"a derived feature ({names}) does not compute: {error}") from error


def parse_steps(names: Sequence[str]) -> tuple[Step, ...]:
    """Validated step names in pipeline order; no names means every step."""
    if unknown := sorted(set(names) - set(STEPS)):
        raise ProjectError(f"unknown step {unknown[0]!r}; the steps are {', '.join(STEPS)}")
    return tuple(step for step in STEPS if step in names or not names)


def report_key(quality_prefix: str, dataset: str, step: str, interval: DataInterval) -> str:
    return f"{quality_prefix}/{dataset}/{step}/{interval.start}_{interval.end}.json"


def read_blocked(
    store: pafs.FileSystem, quality_prefix: str, dataset: str, interval: DataInterval
) -> list[str]:
    """What blocked the data pipeline of `interval` (a sensor fails at once on it); empty if
    nothing did or it has not run. A run leaves the same report under each step it ran."""
    found = set(list_keys(store, f"{quality_prefix}/{dataset}"))
    keys = [report_key(quality_prefix, dataset, step, interval) for step in ("bronze", "silver")]
    reasons = [json.loads(read_bytes(store, key))["blocked"] for key in keys if key in found]
    return list(dict.fromkeys(why for blocked in reasons for why in blocked))


def run_data_pipeline(
    lake: Lake, store: pafs.FileSystem, view: FeatureView, config: QualityConfig,
    prefixes: tuple[str, str], interval: DataInterval, steps: Sequence[Step] = STEPS,
) -> QualityReport:  # fmt: skip
    """`steps` of the pipeline for `interval`; `prefixes` are the raw and quality prefixes."""
    raw_prefix, quality_prefix = prefixes
    report = QualityReport(dataset=view.dataset, interval=str(interval))
    try:
        if "bronze" in steps:
            ingest_bronze(lake, store, view, config, raw_prefix, interval, report)
            report.raise_if_blocked(config)
        if "silver" in steps:
            build_silver(lake, view, config, interval, report)
        if "gold" in steps:
            report.gold_rows = build_gold(lake, view, interval)
    finally:  # each checking step leaves the report, also when a check blocked it
        for step in ("bronze", "silver"):
            if step in steps:
                key = report_key(quality_prefix, view.dataset, step, interval)
                write_bytes(store, key, report.to_json().encode())
    return report
