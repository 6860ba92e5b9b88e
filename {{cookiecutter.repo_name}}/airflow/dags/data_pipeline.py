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

from airflow.sdk import dag
from dag_support import DEFAULT_ARGS, START_DATE, daily_schedule, run_heavy_step


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
    # Each step in this worker or as an ECS task, as ORCHESTRATION__RUNNER says.
    bronze = run_heavy_step("bronze", "ingest_bronze")
    silver = run_heavy_step("silver", "build_silver", bronze)
    run_heavy_step("gold", "build_gold", silver)


data_pipeline()
