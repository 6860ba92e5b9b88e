"""A check's outcome and where it goes: one route per environment, never two for one
condition. With a Pushgateway (compose, `make monitoring-local`) the job pushes its gauges and
Prometheus' rules (monitoring/prometheus/alerts.yml) alert through Alertmanager; without one
(AWS, where the CDK app runs no Prometheus) it posts the alert to a Slack-compatible webhook
(ALERT_WEBHOOK_URL); with neither it is printed."""

import json
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from src.errors import ConfigError, ProjectError
from src.monitoring.drift import DriftResult
from src.monitoring.performance import PerformanceResult

JOB, TIMEOUT_SECONDS = "drift_check", 10
# name: (help, labels)
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "drift_check_last_run_timestamp_seconds": ("Unix time the last check finished.", ()),
    "drift_check_dataset_drift": ("1 when the share of drifted features reached the limit.", ()),
    "drift_check_drift_share": ("Share of features that drifted.", ()),
    "drift_check_column_drift_score": ("Drift score of each feature.", ("column", "method")),
    "drift_check_column_drifted": ("1 when the feature drifted.", ("column",)),
    "drift_check_current_rows": ("Rows checked.", ()),
    "drift_check_prediction_drift_score": ("Drift score of the predictions.", ("method",)),
    "drift_check_prediction_drift": ("1 when the model's predictions drifted.", ()),
    "data_quality_missing_share": ("Share of missing values.", ("column",)),
    "data_quality_out_of_range_share": ("Share of values outside the reference.", ("column",)),
    "data_quality_failed_checks": ("Failed data quality checks.", ()),
    "model_live_performance": ("Metric on labelled predictions.", ("metric",)),
    "model_training_performance": ("The same metric on the holdout set.", ("metric",)),
    "model_live_labelled_rows": ("Labelled predictions checked.", ()),
    "model_concept_drift": ("1 when live performance degraded beyond the tolerance.", ()),
}
# Each problem's runbook, the page the Prometheus alert of the same condition links.
RUNBOOKS = {
    "data drift": "docs/runbooks/data-drift.md",
    "prediction drift": "docs/runbooks/prediction-drift.md",
    "data quality": "docs/runbooks/data-quality.md",
    "concept drift": "docs/runbooks/model-performance-degraded.md",
}


@dataclass(frozen=True)
class MonitoringOutcome:
    """Data quality and drift (one Evidently report), live performance once labels arrived."""

    model_name: str
    model_version: str
    source: str
    drift: DriftResult
    performance: PerformanceResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        prediction, performance = self.drift.prediction, self.performance
        found = {
            "data drift": self.drift.dataset_drift,
            "prediction drift": prediction is not None and prediction.drifted,
            "data quality": bool(self.drift.failed_checks),
            "concept drift": performance is not None and performance.concept_drift,
        }
        return [problem for problem, present in found.items() if present]

    def verdict(self) -> str:
        performance = self.performance.verdict() if self.performance else "no live performance"
        return f"{self.drift.verdict()}; {performance}"

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems}


@dataclass(frozen=True)
class AlertTargets:
    pushgateway_url: str | None
    webhook_url: str | None


def build_registry(outcome: MonitoringOutcome, finished: datetime) -> CollectorRegistry:
    registry = CollectorRegistry()
    g = {
        name: Gauge(name, doc, labels, registry=registry) for name, (doc, labels) in GAUGES.items()
    }
    drift, prediction, performance = outcome.drift, outcome.drift.prediction, outcome.performance
    g["drift_check_last_run_timestamp_seconds"].set(finished.timestamp())
    g["drift_check_dataset_drift"].set(drift.dataset_drift)
    g["drift_check_drift_share"].set(drift.drift_share)
    g["drift_check_current_rows"].set(drift.current_rows)
    g["data_quality_failed_checks"].set(len(drift.failed_checks))
    for column in drift.columns:
        g["drift_check_column_drift_score"].labels(column.column, column.method).set(column.score)
        g["drift_check_column_drifted"].labels(column.column).set(column.drifted)
    for name, (missing, outside) in drift.quality.items():
        g["data_quality_missing_share"].labels(name).set(missing)
        g["data_quality_out_of_range_share"].labels(name).set(outside)
    if prediction is not None:
        g["drift_check_prediction_drift_score"].labels(prediction.method).set(prediction.score)
        g["drift_check_prediction_drift"].set(prediction.drifted)
    if performance is not None:
        g["model_live_labelled_rows"].set(performance.labelled_rows)
        g["model_concept_drift"].set(performance.concept_drift)
        for metric, value in performance.live.items():
            g["model_live_performance"].labels(metric).set(value)
        for metric, value in performance.training.items():
            g["model_training_performance"].labels(metric).set(value)
    return registry


def alert_text(outcome: MonitoringOutcome, reports: list[Path]) -> str:
    """The problems, the verdict with their figures, the reports and runbooks (Slack markup)."""
    problems = outcome.problems
    title = f"*Model {outcome.model_name} v{outcome.model_version}: {', '.join(problems)}*"
    runbooks = ", ".join(RUNBOOKS[problem] for problem in problems)
    files = ", ".join(str(path) for path in reports)
    return f"{title}\n{outcome.source}: {outcome.verdict()}\nReports: {files}\nRunbooks: {runbooks}"


def post_alert(text: str, url: str) -> None:
    """POST `{"text": ...}`; a refused delivery names the host, never the URL (a secret)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"ALERT_WEBHOOK_URL must be an http(s) URL, not {parts.scheme!r}")
    body, headers = json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310
    try:  # an answer outside 2xx raises HTTPError ("HTTP Error 500: ...")
        urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS).close()  # noqa: S310  # nosec B310
    except (URLError, OSError) as error:
        raise ProjectError(f"could not post the alert to {parts.netloc}: {error}") from error


def deliver(
    outcome: MonitoringOutcome, reports: list[Path], targets: AlertTargets, finished: datetime
) -> str:
    """Send the results down the one route `targets` configure; says where they went."""
    if url := targets.pushgateway_url:
        # Replaces the model's group, so a column gone from the check goes from Prometheus too.
        group, registry = {"model_name": outcome.model_name}, build_registry(outcome, finished)
        try:
            push_to_gateway(url, JOB, registry, grouping_key=group, timeout=TIMEOUT_SECONDS)
        except (URLError, OSError) as error:
            raise ProjectError(f"could not push metrics to {url}: {error}") from error
        return f"metrics pushed to {url}; Prometheus' rules alert on them"
    if not outcome.problems:
        return "no alert: nothing found"
    if targets.webhook_url:
        post_alert(alert_text(outcome, reports), targets.webhook_url)
        return "alert posted to the webhook"
    return f"alert (no PUSHGATEWAY_URL or ALERT_WEBHOOK_URL set): {alert_text(outcome, reports)}"
