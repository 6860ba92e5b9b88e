"""Prometheus metrics of the drift job: the one place their names are defined.

The job is a batch process, so it pushes them to a Pushgateway, which Prometheus scrapes.
A push replaces the whole group of the model (job + model_name), so a column or a label
that disappears from one check to the next disappears from Prometheus as well.
Dashboards and alert rules refer to these names; a test checks they agree.
"""

from __future__ import annotations

from datetime import datetime
from urllib.error import URLError

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from src.errors import ProjectError
from src.monitoring.drift import ColumnDrift, DriftResult
from src.monitoring.performance import PerformanceResult
from src.monitoring.quality import QualityResult


class DriftJobMetrics:
    """A fresh registry holding one check's values, ready to push."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        gauge = self._gauge
        self.last_run = gauge(
            "drift_check_last_run_timestamp_seconds", "Unix time the last drift check finished."
        )
        self.info = gauge(
            "drift_check_info", "The checked model version and data source (value 1).",
            ["model_version", "source"],
        )  # fmt: skip
        self.dataset_drift = gauge(
            "drift_check_dataset_drift", "1 when the share of drifted features reached the limit."
        )
        self.drift_share = gauge("drift_check_drift_share", "Share of features that drifted.")
        self.column_score = gauge(
            "drift_check_column_drift_score", "Drift score of each feature (test in `method`).",
            ["column", "method"],
        )  # fmt: skip
        self.column_drifted = gauge(
            "drift_check_column_drifted", "1 when the feature drifted.", ["column"]
        )
        self.current_rows = gauge("drift_check_current_rows", "Rows in the checked window.")
        self.reference_rows = gauge("drift_check_reference_rows", "Rows in the reference set.")
        self.prediction_score = gauge(
            "drift_check_prediction_drift_score", "Drift score of the model's predictions.",
            ["method"],
        )  # fmt: skip
        self.prediction_drift = gauge(
            "drift_check_prediction_drift", "1 when the model's predictions drifted."
        )
        self.missing_share = gauge(
            "data_quality_missing_share", "Share of missing or non-finite values.", ["column"]
        )
        self.out_of_range_share = gauge(
            "data_quality_out_of_range_share", "Share of values outside the reference range.",
            ["column"],
        )  # fmt: skip
        self.failed_checks = gauge("data_quality_failed_checks", "Failed data quality checks.")
        self.live_performance = gauge(
            "model_live_performance", "Metric of the model on labelled predictions.", ["metric"]
        )
        self.training_performance = gauge(
            "model_training_performance", "The same metric on the holdout set at training.",
            ["metric"],
        )  # fmt: skip
        self.labelled_rows = gauge("model_live_labelled_rows", "Labelled predictions checked.")
        self.concept_drift = gauge(
            "model_concept_drift", "1 when live performance degraded beyond the tolerance."
        )

    def _gauge(self, name: str, documentation: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(name, documentation, labels or [], registry=self.registry)

    def record_drift(self, result: DriftResult, prediction: ColumnDrift | None) -> None:
        self.dataset_drift.set(int(result.dataset_drift))
        self.drift_share.set(result.drift_share)
        self.current_rows.set(result.current_rows)
        self.reference_rows.set(result.reference_rows)
        for column in result.columns:
            self.column_score.labels(column=column.column, method=column.method).set(column.score)
            self.column_drifted.labels(column=column.column).set(int(column.drifted))
        if prediction is not None:
            self.prediction_score.labels(method=prediction.method).set(prediction.score)
            self.prediction_drift.set(int(prediction.drifted))

    def record_quality(self, result: QualityResult) -> None:
        self.failed_checks.set(len(result.failed_checks))
        for column in result.columns:
            self.missing_share.labels(column=column.column).set(column.missing_share)
            self.out_of_range_share.labels(column=column.column).set(column.out_of_range_share)

    def record_performance(self, result: PerformanceResult) -> None:
        self.labelled_rows.set(result.labelled_rows)
        self.concept_drift.set(int(result.concept_drift))
        for name, value in result.live.items():
            self.live_performance.labels(metric=name).set(value)
        for name, value in result.training.items():
            self.training_performance.labels(metric=name).set(value)

    def record_run(self, model_version: str, source: str, finished: datetime) -> None:
        self.info.labels(model_version=model_version, source=source).set(1)
        self.last_run.set(finished.timestamp())


def push_metrics(
    metrics: DriftJobMetrics, url: str, job: str, model_name: str, timeout: float
) -> None:
    """Replace the model's group on the Pushgateway with these values."""
    try:
        push_to_gateway(
            url,
            job=job,
            registry=metrics.registry,
            grouping_key={"model_name": model_name},
            timeout=timeout,
        )
    except (URLError, OSError) as error:
        message = f"could not push metrics to the Pushgateway at {url}: {error}"
        raise ProjectError(message) from error
