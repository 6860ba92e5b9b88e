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

from airflow.sdk import Param, dag, get_current_context, task
from dag_support import DEFAULT_ARGS, START_DATE, Upstream

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
        days = context.lake.read(table, columns=[INGEST_DATE]).column(INGEST_DATE).to_pylist()
        if not days:
            raise DataValidationError(f"{table} is empty; run the data_pipeline DAG first")
        return {"table": table, "rows": len(days), "latest_day": max(days).isoformat()}

    @task
    def train_model(features: Upstream) -> dict[str, Any]:
        from src.context import build_context
        from src.pipelines.DS.training_pipeline.pipeline import run_training_pipeline

        reason = (get_current_context()["dag_run"].conf or {}).get("reason", "schedule or manual")
        log.info("training on %s rows of %s (%s)", features["rows"], features["table"], reason)
        context = build_context()
        config = context.training
        trials = get_current_context()["params"].get("trials")
        if trials is not None:
            config = config.with_search(n_trials=trials)
        outcome = run_training_pipeline(
            context.lake,
            context.view,
            config,
            context.mlflow,
            context.settings.model_name,
        )
        decision = outcome.decision
        state = "production" if decision.promoted else "staging" if decision.staged else "rejected"
        return {
            "model_name": context.settings.model_name,
            "version": outcome.version,
            "run_id": outcome.run_id,
            "state": state,
            "reason": decision.reason,
        }

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

    confirm_registration(train_model(check_feature_store()))


ml_training_pipeline()
