"""
### ML batch inference pipeline: one day of the feature store scored by the production model

Daily at midnight UTC for the day that just ended. `wait_for_features` waits (without
holding a worker slot) for the day's gold rows, and fails at once with the reason when a
quality rule blocked the day's data pipeline. `score_day` runs the seed's six steps: load,
prepare, the `production` model from MLflow, predict, store (Parquet and the predictions
table), drift check. A rerun replaces the day's predictions. Same code as
`make batch-inference DATE=<day>`.
"""

from __future__ import annotations

from airflow.sdk import PokeReturnValue, dag
from dag_support import DAG_DEFAULTS, current_interval, daily_schedule, heavy_step, upstream_sensor


@dag(schedule=daily_schedule(), tags=["ml"], doc_md=__doc__, **DAG_DEFAULTS)
def ml_batch_inference_pipeline() -> None:
    @upstream_sensor
    def wait_for_features() -> PokeReturnValue:
        from src.context import build_context
        from src.data.feature_store import INGEST_DATE
        from src.errors import DataValidationError
        from src.pipelines.DE.pipeline import read_blocked

        context, interval = build_context(), current_interval()
        prefix, dataset = context.settings.aws.s3.quality_prefix, context.view.dataset
        if blocked := read_blocked(context.store, prefix, dataset, interval):
            raise DataValidationError(f"the data pipeline of {interval} was blocked: {blocked}")
        table = context.view.table
        exists = context.lake.exists(table)
        rows = context.lake.count(table, where=interval.row_filter(INGEST_DATE)) if exists else 0
        return PokeReturnValue(is_done=rows > 0, xcom_value=rows)

    wait_for_features() >> heavy_step("batch-inference", "score_day")


ml_batch_inference_pipeline()
