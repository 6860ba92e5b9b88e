"""
### ML monitoring pipeline: drift check of recent predictions, alert, and retraining

Runs daily at midnight UTC, once `ml_batch_inference_pipeline` has scored the day that
just ended. It compares the predictions of the last `drift.window_days` days
(config/monitoring.yaml) with the reference set stored with the production model.

- `wait_for_predictions` waits, without holding a worker slot, until the day's
  predictions are in the table.
- `check_drift` runs the same monitoring job as `make drift-check` (data quality, data
  and prediction drift, live performance once labels arrived), writes JSON and HTML
  reports named after the window, pushes its metrics to the Pushgateway (whose rules
  alert) or, without one, posts the alert to ALERT_WEBHOOK_URL; passes on the decision
  and report path.
- `choose_action` branches on the decision: on data, prediction or concept drift (live
  performance below training), `alert_drift` then `trigger_retraining`, which
  triggers `ml_training_pipeline` with the reason and the report in its `conf` (once per
  window: its run id is `drift_<window end>`), or `no_drift`.
- `alert_drift` logs the verdict as a warning, with the report to read and where the
  alert went.

Re-running a day rewrites the same report files. The same check runs from the command
line as `make drift-check`.
"""

from __future__ import annotations

import logging

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import PokeReturnValue, dag, task
from dag_support import (
    DEFAULT_ARGS,
    SENSOR_POKE_SECONDS,
    SENSOR_TIMEOUT_SECONDS,
    START_DATE,
    Upstream,
    current_interval,
    daily_schedule,
    interval_reference,
    last_day,
    run_heavy_step,
)

log = logging.getLogger(__name__)

TRAINING_DAG_ID = "ml_training_pipeline"
# What a model trained on fresher data can fix. A data quality failure calls for fixing the
# data, not for learning from it: it alerts (make drift-check exits 3) but does not retrain.
RETRAINING_PROBLEMS = frozenset({"data drift", "prediction drift", "concept drift"})


@dag(
    dag_id="ml_monitoring_pipeline",
    schedule=daily_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "monitoring"],
    doc_md=__doc__,
)
def ml_monitoring_pipeline() -> None:
    @task.sensor(
        poke_interval=SENSOR_POKE_SECONDS, timeout=SENSOR_TIMEOUT_SECONDS, mode="reschedule"
    )
    def wait_for_predictions() -> PokeReturnValue:
        from src.context import build_context
        from src.data.predictions import count_prediction_window

        context = build_context()
        interval = current_interval()
        reference = interval_reference(interval)
        days = (interval.end - interval.start).days
        rows = count_prediction_window(
            context.lake, last_day(reference), days, context.settings.model_name
        )
        return PokeReturnValue(is_done=rows > 0, xcom_value={**reference, "rows": rows})

    @task.branch
    def choose_action(check: Upstream) -> str:
        return "alert_drift" if RETRAINING_PROBLEMS.intersection(check["problems"]) else "no_drift"

    @task
    def alert_drift(check: Upstream) -> str:
        message = (
            f"drift in the {check['window_days']} days to {check['window_end']} for model "
            f"v{check['model_version']}: {check['verdict']}; report {check['report']}; "
            f"{'; '.join(check['deliveries']) or 'no alert target configured'}"
        )
        log.warning(message)
        return message

    # multiple_outputs: the trigger below reads single keys of the result.
    check: Upstream = run_heavy_step(
        "drift-check", "check_drift", wait_for_predictions(), multiple_outputs=True
    )
    alert = alert_drift(check)
    retrain = TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id=TRAINING_DAG_ID,
        trigger_run_id=check["retrain_run_id"],
        skip_when_already_exists=True,
        conf={"reason": "drift", "report": check["report"], "window_end": check["window_end"]},
    )
    choose_action(check) >> [alert, EmptyOperator(task_id="no_drift")]
    alert >> retrain


ml_monitoring_pipeline()
