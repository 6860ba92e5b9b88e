"""One monitoring check, in the seed's order: data quality -> drift detection -> alerts.

Data drift of every feature, drift of the model's predictions, data quality, and, once
labels have arrived, live performance against training and the concept drift it shows.
The results become a report, Pushgateway metrics and (when something is wrong) an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import PREDICTION, sample_prediction_window
from src.errors import ProjectError
from src.model.predictor import Predictor
from src.monitoring.alerts import Alert, post_alert, runbook
from src.monitoring.config import DriftConfig, MonitoringConfig
from src.monitoring.drift import (
    ColumnDrift,
    ColumnKind,
    DriftEvidence,
    DriftResult,
    check_columns,
    decide_column_drift,
    detect_drift,
    detect_prediction_drift,
)
from src.monitoring.labels import join_labels
from src.monitoring.metrics import DriftJobMetrics, push_metrics
from src.monitoring.performance import PerformanceResult, evaluate_performance
from src.monitoring.quality import QualityResult, check_quality


@dataclass(frozen=True)
class MonitoringOutcome:
    model_name: str
    model_version: str
    source: str
    quality: QualityResult
    drift: DriftResult
    evidence: DriftEvidence
    prediction: ColumnDrift | None = None
    performance: PerformanceResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.drift.dataset_drift:
            found.append("data drift")
        if self.prediction is not None and self.prediction.drifted:
            found.append("prediction drift")
        if not self.quality.passed:
            found.append("data quality")
        if self.performance is not None and self.performance.concept_drift:
            found.append("concept drift")
        return found

    def verdict(self) -> str:
        parts = [self.drift.verdict()]
        if self.prediction is not None:
            drift = self.prediction
            state = "DRIFT" if drift.drifted else "no drift"
            parts.append(f"prediction {state} ({drift.method} {drift.score:.4g})")
        parts.append(self.quality.verdict())
        parts.append(self.performance.verdict() if self.performance else "no live performance")
        return "; ".join(parts)

    def sections(self) -> dict[str, Any]:
        """The parts of the JSON report beyond the feature drift."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "source": self.source,
            "problems": self.problems,
            "prediction_drift": self.prediction.__dict__ if self.prediction else None,
            "quality": self.quality.to_dict(),
            "performance": self.performance.to_dict() if self.performance else None,
            "notes": self.notes,
        }


def prediction_kind(predictor: Predictor) -> ColumnKind:
    return "categorical" if predictor.task == "classification" else "numerical"


def read_current_window(
    lake: Lake,
    view: FeatureView,
    last_day: date,
    days: int,
    model_name: str | None = None,
    drift: DriftConfig | None = None,
) -> pd.DataFrame:
    """Predictions of the window (of one model), with their labels where they have arrived:
    at most `drift.max_current_rows` per model version, by the seeded rule of
    config/monitoring.yaml (src/data/sampling.py)."""
    config = drift or DriftConfig()
    predictions = sample_prediction_window(
        lake, last_day, days, config.max_current_rows, config.sample_seed, model_name
    )
    if predictions.empty:
        return predictions
    return join_labels(lake, view, predictions)


def add_missing_predictions(current: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    """A file of features only is scored by the model, so its predictions can be checked."""
    if PREDICTION in current.columns:
        return current
    check_columns(current, predictor.feature_names, "current", predictor.categorical)
    scored = predictor.predict_frame(current)
    return current.assign(**{PREDICTION: scored[PREDICTION]})


def check_performance(
    predictor: Predictor,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    label: str,
    training: dict[str, float],
    config: MonitoringConfig,
) -> tuple[PerformanceResult | None, str | None]:
    """Live performance on the labelled rows, or why it was skipped."""
    if label not in current.columns:
        return None, f"live performance skipped: no {label!r} labels in the current data"
    labelled = current[current[label].notna() & current[PREDICTION].notna()]
    needed = config.performance.min_labelled_rows
    if len(labelled) < needed:
        return None, (
            f"live performance skipped: {len(labelled)} labelled rows, needs {needed} "
            "(config/monitoring.yaml performance.min_labelled_rows)"
        )
    label_drift = None
    if label in reference.columns:
        label_drift = decide_column_drift(
            reference[label],
            labelled[label],
            label,
            prediction_kind(predictor),
            config.drift.prediction_method,
            config.drift.prediction_threshold,
        )
    result = evaluate_performance(
        labelled, label, predictor.task, training, config.performance, label_drift
    )
    return result, None


def run_monitoring_check(
    predictor: Predictor,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    label: str,
    training: dict[str, float],
    config: MonitoringConfig,
    source: str,
) -> MonitoringOutcome:
    columns = predictor.feature_names
    categorical = predictor.categorical
    check_columns(reference, columns, "reference", categorical)
    current = add_missing_predictions(current, predictor)
    quality = check_quality(reference, current, columns, config.quality, categorical)
    drift, evidence = detect_drift(reference, current, columns, config.drift, categorical)
    notes = []
    prediction = None
    if PREDICTION in reference.columns:
        prediction, evidence = detect_prediction_drift(
            reference, current, PREDICTION, prediction_kind(predictor), config.drift, evidence
        )
    else:
        notes.append(f"prediction drift skipped: the reference set has no {PREDICTION!r} column")
    performance, skipped = check_performance(predictor, reference, current, label, training, config)
    if skipped:
        notes.append(skipped)
    return MonitoringOutcome(
        model_name=predictor.model_name,
        model_version=predictor.version,
        source=source,
        quality=quality,
        drift=drift,
        evidence=evidence,
        prediction=prediction,
        performance=performance,
        notes=notes,
    )


def build_metrics(
    outcome: MonitoringOutcome, source_kind: str, finished: datetime
) -> DriftJobMetrics:
    metrics = DriftJobMetrics()
    metrics.record_drift(outcome.drift, outcome.prediction)
    metrics.record_quality(outcome.quality)
    if outcome.performance is not None:
        metrics.record_performance(outcome.performance)
    metrics.record_run(outcome.model_version, source_kind, finished)
    return metrics


# Each problem's runbook under docs/runbooks/, the same pages the Prometheus alerts link.
PROBLEM_RUNBOOKS = {
    "data drift": runbook("data-drift"),
    "prediction drift": runbook("prediction-drift"),
    "data quality": runbook("data-quality"),
    "concept drift": runbook("model-performance-degraded"),
}


def build_alert(
    outcome: MonitoringOutcome, config: MonitoringConfig, reports: list[Path]
) -> Alert | None:
    """The alert for the problems the configuration alerts on, or None."""
    wanted = {
        "data drift": config.alerts.on_drift,
        "prediction drift": config.alerts.on_drift,
        "data quality": config.alerts.on_quality,
        "concept drift": config.alerts.on_degradation,
    }
    problems = [problem for problem in outcome.problems if wanted[problem]]
    if not problems:
        return None
    lines = []
    if "data drift" in problems:
        drifted = sorted(
            (c for c in outcome.drift.columns if c.drifted), key=lambda c: c.score, reverse=True
        )
        top = ", ".join(f"{c.column} ({c.method} {c.score:.3g})" for c in drifted[:5])
        more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
        lines.append(
            f"Data drift: {len(drifted)}/{len(outcome.drift.columns)} features drifted "
            f"(share {outcome.drift.drift_share:.2f}): {top}{more}"
        )
    if "prediction drift" in problems and outcome.prediction is not None:
        lines.append(
            f"Prediction drift: {outcome.prediction.method} score "
            f"{outcome.prediction.score:.3g} (threshold {outcome.prediction.threshold:.3g})"
        )
    if "data quality" in problems:
        lines.append("Data quality: " + "; ".join(outcome.quality.failed_checks))
    if "concept drift" in problems and outcome.performance is not None:
        performance = outcome.performance
        worse = ", ".join(
            f"{name} {performance.live[name]:.4f} vs {performance.training[name]:.4f} at training"
            for name in performance.degraded_metrics
        )
        lines.append(f"Concept drift: live performance degraded: {worse}")
    details = [
        f"Checked {outcome.drift.current_rows} rows of {outcome.source} against "
        f"{outcome.drift.reference_rows} reference rows."
    ]
    if reports:
        details.append("Reports: " + ", ".join(str(path) for path in reports))
    return Alert(
        title=f"Model {outcome.model_name} v{outcome.model_version}: {', '.join(problems)}",
        problems=lines,
        details=details,
        runbooks=[PROBLEM_RUNBOOKS[problem] for problem in problems],
    )


@dataclass(frozen=True)
class Delivery:
    messages: list[str]
    failures: list[str]


def deliver(
    outcome: MonitoringOutcome,
    config: MonitoringConfig,
    reports: list[Path],
    finished: datetime,
    source_kind: str,
    pushgateway_url: str | None,
    webhook_url: str | None,
) -> Delivery:
    """Push the metrics and post the alert; each is tried even when the other failed."""
    messages: list[str] = []
    failures: list[str] = []
    if pushgateway_url:
        try:
            metrics = build_metrics(outcome, source_kind, finished)
            push_metrics(
                metrics,
                pushgateway_url,
                config.pushgateway.job,
                outcome.model_name,
                config.pushgateway.timeout_seconds,
            )
            messages.append(f"metrics pushed to {pushgateway_url}")
        except ProjectError as error:
            failures.append(str(error))
    alert = build_alert(outcome, config, reports)
    if alert is not None and webhook_url:
        try:
            post_alert(alert, webhook_url, config.alerts.webhook_timeout_seconds)
            messages.append("alert posted to the webhook")
        except ProjectError as error:
            failures.append(str(error))
    elif alert is not None:
        messages.append(f"alert (ALERT_WEBHOOK_URL not set): {alert.title}")
    return Delivery(messages, failures)
