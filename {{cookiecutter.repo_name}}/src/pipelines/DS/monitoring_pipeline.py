"""The monitoring job: check current data against the production model, report, alert.

`make drift-check` and the `ml_monitoring_pipeline` DAG both run it; they differ only in
where the current data comes from and in when the reports are stamped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd

from src.data.predictions import MODEL_NAME, MODEL_VERSION
from src.errors import DataValidationError
from src.model.mlflow_manager import PRODUCTION_ALIAS, MlflowManager
from src.monitoring.check import Delivery, MonitoringOutcome, deliver, run_monitoring_check
from src.monitoring.config import MonitoringConfig
from src.monitoring.drift import write_reports
from src.monitoring.performance import training_metrics_from_tags

SourceKind = Literal["file", "predictions"]


@dataclass(frozen=True)
class DriftCheckRun:
    outcome: MonitoringOutcome
    reports: list[Path]
    delivery: Delivery


@dataclass(frozen=True)
class AlertTargets:
    """Where results go besides the reports; None leaves that target out."""

    pushgateway_url: str | None
    webhook_url: str | None


def select_model_rows(current: pd.DataFrame, model_name: str, version: str) -> pd.DataFrame:
    """The window's rows of the model version checked: versions drift apart by design."""
    if MODEL_NAME not in current.columns or MODEL_VERSION not in current.columns:
        return current
    mine = current[(current[MODEL_NAME] == model_name) & (current[MODEL_VERSION] == version)]
    if mine.empty:
        pairs = current[[MODEL_NAME, MODEL_VERSION]].drop_duplicates().itertuples(index=False)
        found = sorted(f"{name} v{number}" for name, number in pairs)
        raise DataValidationError(
            f"the window has no predictions of {model_name} v{version} (production); "
            f"it has {', '.join(found) or 'none'}: run `make batch-inference` first"
        )
    return mine.reset_index(drop=True)


def run_drift_check(
    manager: MlflowManager,
    model_name: str,
    current: pd.DataFrame,
    label: str,
    config: MonitoringConfig,
    reports_dir: Path,
    source: str,
    source_kind: SourceKind,
    targets: AlertTargets,
    stamp: datetime,
    html: bool = True,
) -> DriftCheckRun:
    """Quality, drift and live performance of `current`; reports stamped with `stamp`."""
    predictor = manager.load_predictor(model_name, PRODUCTION_ALIAS)
    # By number, not alias: the alias may have moved since the model was loaded.
    version = manager.get_version_by_number(model_name, predictor.version)
    training = training_metrics_from_tags(dict(version.tags))
    if source_kind == "predictions":
        current = select_model_rows(current, model_name, predictor.version)
    reference = manager.load_reference(
        predictor.run_id, config.drift.max_reference_rows, config.drift.sample_seed
    )
    outcome = run_monitoring_check(predictor, reference, current, label, training, config, source)
    reports = write_reports(
        outcome.drift, outcome.evidence, reports_dir, stamp, html, outcome.sections()
    )
    delivery = deliver(
        outcome,
        config,
        reports,
        stamp,
        source_kind,
        targets.pushgateway_url,
        targets.webhook_url,
    )
    return DriftCheckRun(outcome=outcome, reports=reports, delivery=delivery)
