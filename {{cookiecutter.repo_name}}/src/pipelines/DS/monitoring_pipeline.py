"""The monitoring job, run by `make drift-check` and the `ml_monitoring_pipeline` DAG: a file,
or the production version's window of the predictions table with the labels that arrived,
against the reference set stored with that version; then reports and the one alert route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from src.data.predictions import prediction_window_versions, read_prediction_window
from src.errors import ModelNotFoundError, ProjectError
from src.model.mlflow_manager import METRIC_TAG_PREFIX, TASK_TAG
from src.model.train import metric_names, parse_task
from src.monitoring.alerts import AlertTargets, MonitoringOutcome, deliver
from src.monitoring.drift import run_drift_report, write_reports
from src.monitoring.performance import evaluate_performance, join_labels
from src.names import PRODUCTION_ALIAS
from src.pipelines.DS.inference_pipeline.pipeline import read_scoring_file

if TYPE_CHECKING:
    from src.context import ProjectContext


@dataclass(frozen=True)
class DriftCheckRun:
    outcome: MonitoringOutcome
    reports: list[Path]
    # Where the results went, or why they could not be delivered.
    delivery: str
    delivered: bool


def run_drift_check(
    context: ProjectContext, current: Path | date, stamp: datetime
) -> DriftCheckRun:
    """Check `current` (a file, or the window ending that day); reports stamped `stamp`; alert
    by the one route the settings configure (src/monitoring/alerts.py)."""
    manager, lake, view, config = context.mlflow, context.lake, context.view, context.monitoring
    settings, model_name = context.settings, context.settings.model_name
    found = manager.get_version(model_name, PRODUCTION_ALIAS)
    if found is None or not found.run_id:
        raise ModelNotFoundError(f"model {model_name!r} has no production version to check")
    task = parse_task(manager.client.get_run(found.run_id).data.tags.get(TASK_TAG, ""))
    # The holdout metrics at training: the version's `metric.<name>` tags.
    tags = {name: found.tags.get(METRIC_TAG_PREFIX + name) for name in metric_names(task)}
    training = {name: float(value) for name, value in tags.items() if value is not None}
    drift, version = config.drift, str(found.version)
    days, rows, seed = drift.window_days, drift.max_current_rows, drift.sample_seed
    if isinstance(current, Path):
        frame, source = read_scoring_file(current), str(current)
        frame = frame.sample(min(len(frame), rows), random_state=seed)
    else:  # the version's predictions of the window, a seeded sample, with their labels
        frame = read_prediction_window(lake, current, days, model_name, version, rows, seed)
        if frame.empty:
            others = prediction_window_versions(lake, current, days, model_name)
            raise ProjectError(
                f"the {days} days to {current} hold no predictions of {model_name} v{version} "
                f"(production); it has {', '.join(f'{model_name} v{v}' for v in others) or 'none'}"
                ": run `make batch-inference` first"
            )
        frame = join_labels(lake, view, frame)
        source = f"predictions of the {days} days to {current}"
    reference = manager.load_reference(found.run_id, drift.max_reference_rows, seed)
    result, report = run_drift_report(reference, frame, view, task, config)
    performance = evaluate_performance(frame, view.label.name, task, training, config.performance)
    notes = [performance] if isinstance(performance, str) else []  # why there is none
    live = None if isinstance(performance, str) else performance
    outcome = MonitoringOutcome(model_name, version, source, result, live, notes)
    reports = write_reports(report, outcome.summary(), settings.reports_dir, stamp)
    webhook = settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
    targets = AlertTargets(settings.pushgateway_url, webhook)
    try:
        delivery = deliver(outcome, reports, targets, stamp)
    except ProjectError as error:
        return DriftCheckRun(outcome, reports, str(error), delivered=False)
    return DriftCheckRun(outcome, reports, delivery, delivered=True)
