"""The monitoring job, run by `make drift-check` and the `ml_monitoring_pipeline` DAG: a file,
or the production version's window of the predictions table with the labels that arrived,
against the reference set stored with that version; then reports and the one alert route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import prediction_window_versions, sample_prediction_window
from src.data.sampling import sample_batches
from src.errors import ModelNotFoundError, ProjectError
from src.model.mlflow_manager import METRIC_TAG_PREFIX, PRODUCTION_ALIAS, TASK_TAG, MlflowManager
from src.model.train import parse_task
from src.monitoring.alerts import AlertTargets, deliver
from src.monitoring.check import MonitoringOutcome
from src.monitoring.config import MonitoringConfig
from src.monitoring.drift import run_drift_report, write_reports
from src.monitoring.labels import join_labels
from src.monitoring.performance import HIGHER_IS_BETTER, evaluate_performance
from src.pipelines.DS.inference_pipeline.pipeline import read_scoring_file


@dataclass(frozen=True)
class DriftCheckRun:
    outcome: MonitoringOutcome
    reports: list[Path]
    # Where the results went, or why they could not be delivered.
    delivery: str
    delivered: bool


def read_window(
    lake: Lake,
    view: FeatureView,
    model_name: str,
    version: str,
    last_day: date,
    config: MonitoringConfig,
) -> pd.DataFrame:
    """The version's predictions of the window, a seeded sample, with their labels."""
    drift, days = config.drift, config.drift.window_days
    frame = sample_prediction_window(
        lake, last_day, days, model_name, version, drift.max_current_rows, drift.sample_seed
    )
    if frame.empty:
        found = prediction_window_versions(lake, last_day, days, model_name)
        raise ProjectError(
            f"the {days} days to {last_day} hold no predictions of {model_name} v{version} "
            f"(production); it has {', '.join(f'{model_name} v{v}' for v in found) or 'none'}: "
            "run `make batch-inference` first"
        )
    return join_labels(lake, view, frame)


def run_drift_check(
    manager: MlflowManager,
    lake: Lake,
    view: FeatureView,
    model_name: str,
    config: MonitoringConfig,
    current: Path | date,
    reports_dir: Path,
    targets: AlertTargets,
    stamp: datetime,
) -> DriftCheckRun:
    """Check `current` (a file, or the window ending that day); reports stamped `stamp`."""
    version = manager.get_version(model_name, PRODUCTION_ALIAS)
    if version is None or not version.run_id:
        raise ModelNotFoundError(f"model {model_name!r} has no production version to check")
    task = parse_task(manager.client.get_run(version.run_id).data.tags.get(TASK_TAG, ""))
    # The holdout metrics at training: the version's `metric.<name>` tags.
    tags = {name: version.tags.get(METRIC_TAG_PREFIX + name) for name in HIGHER_IS_BETTER}
    training = {name: float(value) for name, value in tags.items() if value is not None}
    drift = config.drift
    if isinstance(current, Path):
        rows = pa.Table.from_pandas(read_scoring_file(current), preserve_index=False).to_batches()
        frame = sample_batches(rows, drift.max_current_rows, drift.sample_seed).to_pandas()
        source = str(current)
    else:
        frame = read_window(lake, view, model_name, str(version.version), current, config)
        source = f"predictions of the {drift.window_days} days to {current}"
    reference = manager.load_reference(version.run_id, drift.max_reference_rows, drift.sample_seed)
    result, report = run_drift_report(reference, frame, view, task, config)
    performance = evaluate_performance(frame, view.label.name, task, training, config.performance)
    outcome = MonitoringOutcome(
        model_name, str(version.version), source, result,
        None if isinstance(performance, str) else performance,
        [performance] if isinstance(performance, str) else [],
    )  # fmt: skip
    reports = write_reports(report, outcome.summary(), reports_dir, stamp)
    try:
        delivery = deliver(outcome, reports, targets, stamp)
    except ProjectError as error:
        return DriftCheckRun(outcome, reports, str(error), delivered=False)
    return DriftCheckRun(outcome, reports, delivery, delivered=True)
