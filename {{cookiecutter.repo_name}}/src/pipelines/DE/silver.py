"""Silver: typed, deduplicated and validated rows; every rejected row goes to quarantine.

For one data interval, the bronze rows are typed and judged by the quality rules
(`src.data.quality`). Valid rows replace the interval's silver partition and rejected
rows, raw as received with the rule and the reason, replace its quarantine partition,
so that bronze rows in = silver rows + quarantined rows, and a rerun changes nothing.
A blocking rule stops the step before anything is written.

Iceberg has no transaction across two tables. The guarantee given instead: quarantine
commits first and silver last, both replacing the interval; silver's snapshot records
the quarantine snapshot it belongs to. A failure between the two leaves silver as it was
(gold never sees valid rows without their rejects being accounted for), and the rerun
that the failed task gets replaces both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.quality import (
    RAW_LINE,
    REJECT_REASON,
    REJECT_RULE,
    SOURCE_FILE,
    QualityConfig,
    QualityReport,
    check_freshness,
    evaluate_rows,
    raise_if_blocked,
)
from src.data.tables import bronze_table, quarantine_table, silver_table
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
    bronze = lake.read(bronze_table(view.dataset), where=interval.filter(INGEST_DATE))
    report = QualityReport(
        dataset=view.dataset,
        step="silver",
        interval_start=interval.start.isoformat(),
        interval_end=interval.end.isoformat(),
        rows_in=bronze.num_rows,
    )
    evaluation = evaluate_rows(bronze, view, config, report)
    report.checks.extend(check_freshness(evaluation.valid, view, config, interval))
    report.rows_valid = evaluation.valid.num_rows
    report.rows_quarantined = len(evaluation.rejected_rows)
    raise_if_blocked(report)

    schema = quarantine_schema(view)
    rejected = (
        bronze.take(pa.array(evaluation.rejected_rows, pa.int64()))
        .append_column(REJECT_RULE, pa.array(evaluation.rejected_rules, pa.string()))
        .append_column(REJECT_REASON, pa.array(evaluation.rejected_reasons, pa.string()))
        .select(schema.names)
        .cast(schema)
    )
    # Quarantine first, silver last, each an idempotent replacement of the interval: a crash
    # in between leaves silver (what gold reads) as it was, and the rerun replaces both.
    # Silver's commit names the quarantine snapshot it goes with (`paired_quarantine`).
    where = interval.filter(INGEST_DATE)
    lake.create_table(quarantine_table(view.dataset), schema, partition_by=INGEST_DATE)
    quarantine_snapshot = lake.overwrite(quarantine_table(view.dataset), rejected, where=where)
    lake.create_table(silver_table(view.dataset), view.silver_schema(), partition_by=INGEST_DATE)
    lake.overwrite(
        silver_table(view.dataset),
        evaluation.valid,
        where=where,
        properties={PAIRED_QUARANTINE: str(quarantine_snapshot), PAIRED_INTERVAL: str(interval)},
    )
    return SilverResult(
        rows_in=bronze.num_rows,
        rows_valid=evaluation.valid.num_rows,
        rows_quarantined=rejected.num_rows,
        report=report,
    )
