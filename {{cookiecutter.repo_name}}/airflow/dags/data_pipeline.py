"""
### Data pipeline: raw files -> bronze -> silver -> gold, one day per run

Runs daily at midnight UTC for the day that just ended (its data interval), reading the raw
files landed under `raw/<dataset>/ingest_date=<day>/`.

- `ingest_bronze` appends each raw file once, as text, with its source and ingestion time.
- `build_silver` types, deduplicates and validates the interval; rejected rows go to
  quarantine with the rule they broke.
- `build_gold` rewrites the interval's rows of the feature view (the feature store).

Each task hands the next its interval, table and row counts through XCom.

Every task is idempotent for its interval: bronze skips files it already holds, silver and
gold replace the interval's rows. Re-running a day, or clearing a task, leaves the same
table contents. Backfill a range with `airflow backfill create --dag-id data_pipeline
--from-date 2025-01-01 --to-date 2025-01-10`; the same code runs from the command line as
`make data-pipeline START=2025-01-01 END=2025-01-11`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task
from dag_support import (
    DEFAULT_ARGS,
    START_DATE,
    Upstream,
    current_interval,
    daily_schedule,
    interval_reference,
)


@dag(
    dag_id="data_pipeline",
    schedule=daily_schedule(),
    start_date=START_DATE,
    catchup=False,
    # Iceberg commits to the same tables: one interval at a time, also in backfills.
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["data", "medallion"],
    doc_md=__doc__,
)
def data_pipeline() -> None:
    @task
    def ingest_bronze() -> dict[str, Any]:
        from src.context import build_context
        from src.data.tables import bronze_table
        from src.pipelines.DE import bronze

        context = build_context()
        interval = current_interval()
        result = bronze.ingest_bronze(
            context.lake,
            context.store,
            context.view,
            context.settings.aws.s3.raw_prefix,
            interval,
        )
        return {
            **interval_reference(interval),
            "table": bronze_table(context.view.dataset),
            "files_ingested": result.files_ingested,
            "files_skipped": result.files_skipped,
            "rows": result.rows,
        }

    @task
    def build_silver(upstream: Upstream) -> dict[str, Any]:
        from src.context import build_context
        from src.data.intervals import DataInterval
        from src.data.tables import silver_table
        from src.pipelines.DE import silver

        context = build_context()
        interval = DataInterval.parse(upstream["start"], upstream["end"])
        result = silver.build_silver(context.lake, context.view, interval)
        return {
            **interval_reference(interval),
            "table": silver_table(context.view.dataset),
            "rows_valid": result.rows_valid,
            "rows_quarantined": result.rows_quarantined,
        }

    @task
    def build_gold(upstream: Upstream) -> dict[str, Any]:
        from src.context import build_context
        from src.data.intervals import DataInterval
        from src.pipelines.DE import gold

        context = build_context()
        interval = DataInterval.parse(upstream["start"], upstream["end"])
        result = gold.build_gold(context.lake, context.view, interval)
        return {**interval_reference(interval), "table": context.view.table, "rows": result.rows}

    build_gold(build_silver(ingest_bronze()))


data_pipeline()
