"""The heavy steps, each for one data interval, each returning a JSON-ready summary.

One definition per step, whoever runs it: a task of the orchestrator in its own process, or
`python -m src step <step>` in an ECS task of the project's image (src/names.py),
which writes the same summary to the object store for the run that launched it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from src.names import PREDICTIONS_TABLE

if TYPE_CHECKING:
    from src.context import ProjectContext
    from src.data.intervals import DataInterval
    from src.names import EcsStep

log = logging.getLogger(__name__)

Summary = dict[str, Any]


def interval_reference(interval: DataInterval) -> dict[str, str]:
    """The interval as results carry it from step to step."""
    return {"start": interval.start.isoformat(), "end": interval.end.isoformat()}


def run_data_step(context: ProjectContext, step: str, interval: DataInterval) -> Summary:
    """One medallion step for the interval: what its quality report says."""
    from dataclasses import asdict

    from src.pipelines.DE.pipeline import parse_steps

    report = context.run_data_pipeline(interval, (parse_steps([step])[0],))
    return {**interval_reference(interval), "step": step, **asdict(report)}


def run_training(context: ProjectContext, reason: str, trials: int | None = None) -> Summary:
    """The six training steps under one MLflow run; the interval plays no part.

    `trials` overrides the search's n_trials for this run (as `make train-local TRIALS=n`).
    """
    from src.pipelines.DS.training_pipeline import run_training_pipeline

    log.info("training on %s (%s)", context.view.table, reason)
    config = context.training if trials is None else context.training.with_search(n_trials=trials)
    outcome = run_training_pipeline(
        context.lake,
        context.view,
        config,
        context.mlflow,
        context.settings.model_name,
        guard=context.guard,
    )
    return {
        "model_name": context.settings.model_name,
        "version": outcome.version,
        "run_id": outcome.run_id,
        "state": outcome.decision.state,
        "reason": outcome.decision.reason,
    }


def run_batch_inference(context: ProjectContext, interval: DataInterval) -> Summary:
    """The interval's last day scored by the production model."""
    day = interval.end - timedelta(days=1)
    outcome = context.run_batch_inference(day)
    return {
        "day": day.isoformat(),
        "rows": outcome.rows,
        "model_version": outcome.model_version,
        "output_uri": outcome.output_uri,
        "table": PREDICTIONS_TABLE,
        "drift": outcome.drift.verdict() if outcome.drift else outcome.drift_skipped_reason,
    }


def run_drift_check(context: ProjectContext, interval: DataInterval) -> Summary:
    """The drift check of the `drift.window_days` days up to the interval's last day."""
    end = interval.end - timedelta(days=1)
    # Named after the window's end, so a re-run of the day rewrites the same reports.
    run = context.run_drift_check(
        end, datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    )
    if not run.delivered:
        log.error("monitoring delivery failed: %s", run.delivery)
    return {
        "window_end": end.isoformat(),
        "window_days": context.monitoring.drift.window_days,
        "model_version": run.outcome.model_version,
        "problems": run.outcome.problems,
        "dataset_drift": run.outcome.drift.dataset_drift,
        "drifted_columns": run.outcome.drift.drifted_columns,
        "verdict": run.outcome.verdict(),
        "report": str(run.reports[0]),
        "deliveries": [run.delivery],
        # One retraining per drifted window, however often the day is re-run.
        "retrain_run_id": f"drift_{end.isoformat()}",
    }


def run_step(
    context: ProjectContext,
    step: EcsStep,
    interval: DataInterval,
    reason: str = "manual",
    trials: int | None = None,
) -> Summary:
    """Run `step` for `interval` and return its summary."""
    if step in ("bronze", "silver", "gold"):
        return run_data_step(context, step, interval)
    if step == "training":
        return run_training(context, reason, trials)
    if step == "batch-inference":
        return run_batch_inference(context, interval)
    return run_drift_check(context, interval)
