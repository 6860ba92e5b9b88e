"""Silver: the interval's bronze rows typed, judged (src/data/quality.py) and deduplicated;
the counts come first, so a blocking failure stops the step before anything is written.
"""

from __future__ import annotations

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.quality import QualityConfig, QualityReport, build_silver_queries, quarantine_schema
from src.names import bronze_table, quarantine_table, silver_table


def build_silver(
    lake: Lake, view: FeatureView, config: QualityConfig, interval: DataInterval,
    report: QualityReport,
) -> int:  # fmt: skip
    """Replace silver's and quarantine's interval; returns silver's rows. Fills `report`."""
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
    rows = lake.replace_from_query(silver, queries.silver, interval, INGEST_DATE)
    report.rows_valid = rows
    report.duplicates = report.rows_in - report.rows_quarantined - rows
    return rows
