"""
### ML training pipeline: feature store -> MLflow run -> registry -> staging / production

Runs weekly, and whenever `ml_monitoring_pipeline` finds drift (its run `conf` then names
the drift report that caused it). Trigger it by hand from the UI's trigger button; its
`trials` param sets the run's Optuna trials (empty: those of config/training.yaml).

- `check_feature_store` fails fast, before any MLflow run, when the gold table is empty;
  passes on the table, its rows and latest day.
- `train_model` runs the seed's six steps under one MLflow run: extraction, preprocessing
  and split, training, evaluation against the baseline and production, registration and
  promotion; passes on the model name, version, run id and promotion state.
- `confirm_registration` reads the version back from the registry with its aliases.

The six steps stay in one task on purpose: they share one MLflow run and the in-memory
model, and each step is a module of `src/pipelines/DS/training_pipeline/`. The same code
runs from the command line as `make train-local`.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task
from dag_support import DEFAULT_ARGS, START_DATE, Upstream, run_heavy_step

log = logging.getLogger(__name__)


@dag(
    dag_id="ml_training_pipeline",
    schedule="@weekly",
    start_date=START_DATE,
    catchup=False,
    # Two trainings at once would race for the production alias.
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "training"],
    doc_md=__doc__,
    # A manual run may search fewer (or more) trials than config/training.yaml, as
    # `make train-local TRIALS=n` does; empty keeps the configured search.
    params={
        "trials": Param(
            None, type=["null", "integer"], minimum=1, description="Optuna trials of this run"
        )
    },
)
def ml_training_pipeline() -> None:
    @task
    def check_feature_store() -> dict[str, Any]:
        from src.context import build_context
        from src.data.feature_store import INGEST_DATE
        from src.errors import DataValidationError

        context = build_context()
        table = context.view.table
        # Counted from the table's metadata: no row is read, however large the table.
        rows = context.lake.count(table)
        if rows == 0:
            raise DataValidationError(f"{table} is empty; run the data_pipeline DAG first")
        days = context.lake.load(table).inspect.partitions().column("partition").to_pylist()
        latest_day = max(day[INGEST_DATE] for day in days)
        return {"table": table, "rows": rows, "latest_day": latest_day.isoformat()}

    @task
    def confirm_registration(trained: Upstream) -> dict[str, Any]:
        from src.context import build_context

        context = build_context()
        version = context.mlflow.client.get_model_version(trained["model_name"], trained["version"])
        log.info("v%s: %s (%s)", version.version, trained["state"], trained["reason"])
        return {
            "model_name": version.name,
            "version": str(version.version),
            "run_id": version.run_id,
            "aliases": sorted(version.aliases),
        }

    confirm_registration(run_heavy_step("training", "train_model", check_feature_store()))


ml_training_pipeline()
