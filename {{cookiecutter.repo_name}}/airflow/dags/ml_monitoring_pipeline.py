"""
### ML monitoring pipeline: drift check of recent predictions, and retraining on drift

Daily at midnight UTC, once the day's predictions are in. `check_drift` runs the check of
`make drift-check` on the last `drift.window_days` days (config/monitoring.yaml) against the
production model's reference set, writes its reports and sends its alerts. On data,
prediction or concept drift, `trigger_retraining` starts `ml_training_pipeline` with the
report in its conf, once per window (run id `drift_<window end>`); a data quality problem
alone alerts but does not retrain, since the data needs fixing first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import PokeReturnValue, dag, task
from dag_support import DAG_DEFAULTS, current_interval, daily_schedule, heavy_step, upstream_sensor

RETRAINING_PROBLEMS = {"data drift", "prediction drift", "concept drift"}


@dag(schedule=daily_schedule(), tags=["ml"], doc_md=__doc__, **DAG_DEFAULTS)
def ml_monitoring_pipeline() -> None:
    @upstream_sensor
    def wait_for_predictions() -> PokeReturnValue:
        from src.context import build_context
        from src.data.predictions import count_prediction_window

        context, interval = build_context(), current_interval()
        days = (interval.end - interval.start).days
        last_day = interval.end - timedelta(days=1)
        rows = count_prediction_window(context.lake, last_day, days, context.settings.model_name)
        return PokeReturnValue(is_done=rows > 0, xcom_value=rows)

    @task.short_circuit
    def drifted(problems: list[str]) -> bool:
        return bool(RETRAINING_PROBLEMS.intersection(problems))

    check: Any = heavy_step("drift-check", "check_drift")
    retrain = TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id="ml_training_pipeline",
        trigger_run_id=check["retrain_run_id"],
        skip_when_already_exists=True,
        conf={"reason": "drift", "report": check["report"], "window_end": check["window_end"]},
    )
    wait_for_predictions() >> check
    drifted(check["problems"]) >> retrain


ml_monitoring_pipeline()
