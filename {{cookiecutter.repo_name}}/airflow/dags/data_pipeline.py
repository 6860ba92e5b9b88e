"""
### Data pipeline: raw files -> bronze -> silver -> gold, one day per run

Runs daily at midnight UTC for the day that just ended (its data interval), reading the raw
files landed under `raw/<dataset>/ingest_date=<day>/`.

- `ingest_bronze` appends each raw file once, as text, with its source and ingestion time;
  an unreadable or incomplete file is quarantined whole with its reason and the day goes
  on without it (`files_refused`), or, under the schema rule's `action: block`, fails the
  task by name after the good files went in.
- `build_silver` types, deduplicates and validates the interval against
  config/quality.yaml; rejected rows go to quarantine with the rule they broke, and a
  blocking rule fails the task naming the rule, the column and the count.
- `build_gold` rewrites the interval's rows of the feature view (the feature store).

Each task hands the next its interval, table, row counts and quality report through XCom.

Every task is idempotent for its interval: bronze skips files it already holds, silver and
gold replace the interval's rows. Re-running a day, or clearing a task, leaves the same
table contents. Backfill a range with `airflow backfill create --dag-id data_pipeline
--from-date 2025-01-01 --to-date 2025-01-10`; the same code runs from the command line as
`make data-pipeline START=2025-01-01 END=2025-01-11`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import dag, task
from dag_support import (
    DEFAULT_ARGS,
    START_DATE,
    Upstream,
    current_interval,
    daily_schedule,
    interval_reference,
)

if TYPE_CHECKING:
    from src.context import ProjectContext
    from src.data.intervals import DataInterval
    from src.pipelines.DE.pipeline import DataPipelineResult, Step

StepResult = TypeVar("StepResult")


def ran(result: StepResult | None, step: Step) -> StepResult:
    """The result of a step run_step ran; None would mean the pipeline skipped it."""
    if result is None:
        raise RuntimeError(f"the data pipeline returned no {step} result")
    return result


def run_step(step: Step, interval: DataInterval) -> tuple[DataPipelineResult, ProjectContext]:
    """One medallion step for the interval, with the project's quality rules and reports."""
    from src.context import build_context

    context = build_context()
    return context.run_data_pipeline(interval, (step,)), context


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
        from src.data.tables import bronze_table

        interval = current_interval()
        result, context = run_step("bronze", interval)
        bronze = ran(result.bronze, "bronze")
        return {
            **interval_reference(interval),
            "table": bronze_table(context.view.dataset),
            "files_ingested": bronze.files_ingested,
            "files_skipped": bronze.files_skipped,
            "rows": bronze.rows,
            # Refused files are quarantined whole; the day goes on without them.
            "files_refused": result.refusals(),
            "reports": result.reports,
        }

    @task
    def build_silver(upstream: Upstream) -> dict[str, Any]:
        from src.data.intervals import DataInterval
        from src.data.tables import silver_table

        interval = DataInterval.parse(upstream["start"], upstream["end"])
        result, context = run_step("silver", interval)
        silver = ran(result.silver, "silver")
        return {
            **interval_reference(interval),
            "table": silver_table(context.view.dataset),
            "rows_valid": silver.rows_valid,
            "rows_quarantined": silver.rows_quarantined,
            "reports": result.reports,
        }

    @task
    def build_gold(upstream: Upstream) -> dict[str, Any]:
        from src.data.intervals import DataInterval

        interval = DataInterval.parse(upstream["start"], upstream["end"])
        result, context = run_step("gold", interval)
        gold = ran(result.gold, "gold")
        return {
            **interval_reference(interval),
            "table": context.view.table,
            "rows": gold.rows,
        }

    build_gold(build_silver(ingest_bronze()))


data_pipeline()
