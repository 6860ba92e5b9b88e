"""Silver: typed, deduplicated and validated rows; every rejected row goes to quarantine.

For one data interval, the bronze rows are typed and judged by the quality rules
(`src.data.quality`). Valid rows replace the interval's silver partition and rejected
rows, raw as received with the rule and the reason, replace its quarantine partition,
so that bronze rows in = silver rows + quarantined rows, and a rerun changes nothing.
A blocking rule stops the step before anything is written.

The step is SQL (`src.data.quality.build_silver_queries`): one definition, written in
DuckDB's dialect, that the lake's engine runs. The report's counts come from one COUNT
query; the valid and the rejected rows are two SELECTs of the same definition, each
written over the interval (`Lake.replace_from_query`). Bronze's rows never need to fit
in the worker's memory at once on either engine.

Iceberg has no transaction across two tables. The guarantee given instead: quarantine
commits first and silver last, both replacing the interval.
- Locally and on compose, DuckDB computes the rows and PyIceberg commits each table's
  replacement in one snapshot; silver's snapshot records the quarantine snapshot it
  belongs to (`PAIRED_QUARANTINE`, `PAIRED_INTERVAL` in its summary). A failure between
  the two leaves silver as it was (gold never sees valid rows without their rejects
  being accounted for), and the rerun that the failed task gets replaces both.
- On AWS, Athena runs the statements on the Iceberg tables in place: DELETE FROM then
  INSERT INTO per table, quarantine first, silver last; no row passes through the worker.
  Each statement is a commit of its own, so there is no atomic replacement of one table
  either: a reader between silver's DELETE and INSERT sees the interval empty, and a
  failure there leaves it empty until the rerun. Athena's commits carry no summary
  properties of ours; the pairing is set as silver's table properties after its insert
  (it describes the last interval written). A rerun of the step replaces both tables'
  interval again, so a failed run is repaired by running it again, never duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake, interval_predicate
from src.data.quality import (
    RAW_LINE,
    REJECT_REASON,
    REJECT_RULE,
    SOURCE_FILE,
    QualityConfig,
    QualityReport,
    build_silver_queries,
    check_freshness,
    raise_if_blocked,
    read_metrics,
)
from src.errors import ProjectError
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.bronze import contract_columns

# Summary properties of silver's commit: the quarantine snapshot written with it.
PAIRED_QUARANTINE = "paired-quarantine-snapshot-id"
PAIRED_INTERVAL = "paired-interval"


@dataclass(frozen=True)
class SilverResult:
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    report: QualityReport


def quarantine_schema(view: FeatureView) -> pa.Schema:
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in contract_columns(view)),
            pa.field(SOURCE_FILE, pa.string()),
            pa.field(RAW_LINE, pa.string()),
            pa.field(REJECT_RULE, pa.string()),
            pa.field(REJECT_REASON, pa.string()),
            pa.field(INGEST_DATE, pa.date32()),
        ]
    )


def build_silver(
    lake: Lake, view: FeatureView, interval: DataInterval, config: QualityConfig | None = None
) -> SilverResult:
    config = config or QualityConfig()
    schema = quarantine_schema(view)
    queries = build_silver_queries(
        view,
        config,
        lake.identifier(bronze_table(view.dataset)),
        interval_predicate(INGEST_DATE, interval),
        schema.names,
    )
    counted = lake.sql(queries.metrics).to_pylist()
    if len(counted) != 1:
        raise ProjectError(f"silver's metrics query returned {len(counted)} rows, not one")
    metrics = read_metrics(counted[0], queries, config, view)
    report = QualityReport(
        dataset=view.dataset,
        step="silver",
        interval_start=interval.start.isoformat(),
        interval_end=interval.end.isoformat(),
        rows_in=metrics.rows_in,
        rows_valid=metrics.rows_valid,
        rows_quarantined=metrics.rows_quarantined,
        checks=metrics.checks,
    )
    report.checks.extend(check_freshness(metrics.newest_event, view, config, interval))
    raise_if_blocked(report)

    # Quarantine first, silver last, each a replacement of the interval: a crash in between
    # leaves silver (what gold reads) as it was, and the rerun replaces both. Silver's
    # commit names the quarantine snapshot it goes with.
    lake.create_table(quarantine_table(view.dataset), schema, partition_by=INGEST_DATE)
    quarantined = lake.replace_from_query(
        quarantine_table(view.dataset), queries.quarantine, interval, INGEST_DATE
    )
    lake.create_table(silver_table(view.dataset), view.silver_schema(), partition_by=INGEST_DATE)
    valid = lake.replace_from_query(
        silver_table(view.dataset),
        queries.silver,
        interval,
        INGEST_DATE,
        properties={
            PAIRED_QUARANTINE: str(quarantined.snapshot_id),
            PAIRED_INTERVAL: str(interval),
        },
    )
    return SilverResult(
        rows_in=metrics.rows_in,
        rows_valid=valid.rows,
        rows_quarantined=quarantined.rows,
        report=report,
    )
