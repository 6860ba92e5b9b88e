"""
### ML batch inference pipeline: one day of the feature store scored by the production model

Runs daily at midnight UTC for the day that just ended, once `data_pipeline` has written
that day's gold rows.

- `wait_for_features` waits, without holding a worker slot, until the gold table has the
  day's rows; passes on the table, day and rows. When the day's data pipeline was blocked
  by a quality rule, it fails at once with the rule's reason and the report, instead of
  waiting out its timeout for rows that cannot come before the data is fixed.
- `score_day` runs the seed's six steps: load and validate, prepare features, load the
  `production` model from MLflow, predict, store (Parquet in the object store and the
  Iceberg predictions table), drift check against the model's reference; passes on the
  day, rows, model version, output URI and drift verdict.

Re-running a day replaces that day's batch predictions: the table never holds a day twice.
The same code runs from the command line as `make batch-inference DATE=YYYY-MM-DD`.
"""

from __future__ import annotations

from airflow.sdk import PokeReturnValue, dag, task
from dag_support import (
    DEFAULT_ARGS,
    SENSOR_POKE_SECONDS,
    SENSOR_TIMEOUT_SECONDS,
    START_DATE,
    current_interval,
    daily_schedule,
    interval_reference,
    run_heavy_step,
)


@dag(
    dag_id="ml_batch_inference_pipeline",
    schedule=daily_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "inference"],
    doc_md=__doc__,
)
def ml_batch_inference_pipeline() -> None:
    @task.sensor(
        poke_interval=SENSOR_POKE_SECONDS, timeout=SENSOR_TIMEOUT_SECONDS, mode="reschedule"
    )
    def wait_for_features() -> PokeReturnValue:
        from src.context import build_context
        from src.data.feature_store import INGEST_DATE

        context = build_context()
        interval = current_interval()
        table = context.view.table
        rows = 0
        if context.lake.exists(table):
            rows = context.lake.count(table, where=interval.row_filter(INGEST_DATE))
        reference = {**interval_reference(interval), "table": table, "rows": rows}
        return PokeReturnValue(is_done=rows > 0, xcom_value=reference)

    run_heavy_step("batch-inference", "score_day", wait_for_features())


ml_batch_inference_pipeline()
