"""Prometheus metrics of the online API: the one place their names are defined.

Dashboards and alert rules (monitoring/) refer to these names; a test checks they agree.

HTTP
- api_requests_total (counter; route, method, status): requests answered.
- api_request_duration_seconds (histogram; route): request latency.
Model
- model_predictions_total (counter; model_version, predicted_class): rows predicted;
  predicted_class is "value" for regression.
- model_prediction_value (histogram; model_version): the predicted value (regression) or
  the probability of the predicted class (classification).
- model_info (gauge; model_name, model_version, alias): 1 for the version served, 0 for
  versions this process served before.
- model_load_failures_total (counter): model loads, at start or hot reload, that failed.
- model_reloads_total (counter): models swapped in by hot reload.
- model_batch_rows (histogram): rows per model call (concurrent requests share calls).
Inputs
- model_input_rows_total (counter): rows scored online, the count behind the sums below.
- model_input_feature_sum (gauge; feature): sum of each feature over the rows scored, so
  the mean is rate(model_input_feature_sum) / rate(model_input_rows_total).
- model_input_feature_sum_squares (gauge; feature): sum of squares, for the spread.
Prediction log
- prediction_log_queue_rows (gauge): rows waiting to be written to the predictions table.
- prediction_log_rows_written_total (counter): rows written to the predictions table.
- prediction_log_rows_dropped_total (counter): rows dropped because the queue was full.
- prediction_log_flush_failures_total (counter): micro-batch writes that failed (retried).
- prediction_log_flush_duration_seconds (histogram): time to write one micro-batch.

Every metric works in prometheus-client's multiprocess mode (`serve-prod` with several workers):
gauges declare how the workers' values combine.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

# prometheus-client reads this variable when it is imported; serve-prod sets it for its workers.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
PREDICTED_VALUE_LABEL = "value"

REQUESTS = Counter(
    "api_requests_total", "HTTP requests by route, method and status code.",
    ["route", "method", "status"],
)  # fmt: skip
REQUEST_LATENCY = Histogram(
    "api_request_duration_seconds",
    "Request latency by route, in seconds.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter(
    "model_predictions_total", "Predictions served, by model version and predicted class.",
    ["model_version", "predicted_class"],
)  # fmt: skip
PREDICTION_VALUE = Histogram(
    "model_prediction_value", "Predicted values (regression) or probabilities (classification).",
    ["model_version"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 10, 50, 100, 200, 300, 500),
)  # fmt: skip
MODEL_INFO = Gauge(
    "model_info", "The model being served (value 1), by name, version and alias.",
    ["model_name", "model_version", "alias"], multiprocess_mode="livemax",
)  # fmt: skip
MODEL_LOAD_FAILURES = Counter("model_load_failures_total", "Model loads that failed.")
MODEL_RELOADS = Counter("model_reloads_total", "Models swapped in by hot reload.")
BATCH_ROWS = Histogram(
    "model_batch_rows", "Rows per model call; concurrent requests are scored together.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)  # fmt: skip
INPUT_ROWS = Counter("model_input_rows_total", "Rows scored online.")
INPUT_FEATURE_SUM = Gauge(
    "model_input_feature_sum", "Sum of each input feature over the rows scored online.",
    ["feature"], multiprocess_mode="sum",
)  # fmt: skip
INPUT_FEATURE_SQUARES = Gauge(
    "model_input_feature_sum_squares", "Sum of squares of each input feature over the rows.",
    ["feature"], multiprocess_mode="sum",
)  # fmt: skip
PREDICTION_LOG_QUEUE = Gauge(
    "prediction_log_queue_rows", "Rows waiting to be written to the predictions table.",
    multiprocess_mode="livesum",
)  # fmt: skip
PREDICTION_LOG_WRITTEN = Counter(
    "prediction_log_rows_written_total", "Rows written to the predictions table."
)
PREDICTION_LOG_DROPPED = Counter(
    "prediction_log_rows_dropped_total", "Rows dropped because the prediction log was full."
)
PREDICTION_LOG_FLUSH_FAILURES = Counter(
    "prediction_log_flush_failures_total", "Prediction-log writes that failed and were retried."
)
PREDICTION_LOG_FLUSH_SECONDS = Histogram(
    "prediction_log_flush_duration_seconds", "Time to write one micro-batch of predictions.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip
_served_models: set[tuple[str, str, str]] = set()


_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    # Label lookups cost more than the update; the label sets are few (routes x statuses).
    series = _request_series.get((route, method, status))
    if series is None:
        series = (
            REQUEST_LATENCY.labels(route=route),
            REQUESTS.labels(route=route, method=method, status=str(status)),
        )
        _request_series[(route, method, status)] = series
    series[0].observe(seconds)
    series[1].inc()


class ModelMetrics:
    """The prediction and input metrics of one served model, cheap enough per model call.

    Label lookups are done once per model; the feature sums add up in NumPy and reach
    Prometheus at most every `publish_seconds` (and on `publish()`), not per request.
    """

    def __init__(
        self,
        model_version: str,
        feature_names: Sequence[str],
        regression: bool,
        numeric: Sequence[str] | None = None,
        publish_seconds: float = 1.0,
        may_miss: bool = False,
    ) -> None:
        self._may_miss = may_miss
        # Input sums follow the numeric features only; categories are for the drift check.
        numeric_names = list(feature_names) if numeric is None else list(numeric)
        self._columns: list[int] | None = (
            None
            if numeric_names == list(feature_names)
            else [list(feature_names).index(name) for name in numeric_names]
        )
        feature_names = numeric_names
        self.model_version = model_version
        self.regression = regression
        self.publish_seconds = publish_seconds
        self._class_counters: dict[object, Any] = {}
        self._values = PREDICTION_VALUE.labels(model_version)
        self._value_counter = PREDICTIONS.labels(model_version, PREDICTED_VALUE_LABEL)
        self._sum_gauges = [INPUT_FEATURE_SUM.labels(name) for name in feature_names]
        self._square_gauges = [INPUT_FEATURE_SQUARES.labels(name) for name in feature_names]
        self._sums = np.zeros(len(feature_names))
        self._squares = np.zeros(len(feature_names))
        self._rows = 0
        self._published_at = time.monotonic()
        self._lock = threading.Lock()

    def record(self, predictions: np.ndarray, values: np.ndarray, matrix: np.ndarray) -> None:
        self._count_predictions(predictions)
        for value in values.tolist():
            self._values.observe(value)
        BATCH_ROWS.observe(len(predictions))
        if self._columns is not None or self._may_miss or matrix.dtype != np.float64:
            # Object matrices (categorical models) and missing values: numbers only, and a
            # missing value adds nothing to the sums.
            selected = matrix if self._columns is None else matrix[:, self._columns]
            matrix = np.nan_to_num(np.asarray(selected, dtype=np.float64), nan=0.0)
        with self._lock:
            self._sums += matrix.sum(axis=0)
            self._squares += np.einsum("ij,ij->j", matrix, matrix)
            self._rows += len(matrix)
        if time.monotonic() - self._published_at >= self.publish_seconds:
            self.publish()

    def _count_predictions(self, predictions: np.ndarray) -> None:
        if self.regression:
            self._value_counter.inc(len(predictions))
            return
        labels, counts = np.unique(predictions, return_counts=True)
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
            counter = self._class_counters.get(label)
            if counter is None:
                counter = PREDICTIONS.labels(self.model_version, str(label))
                self._class_counters[label] = counter
            counter.inc(count)

    def publish(self) -> None:
        """Move the accumulated input sums into their Prometheus series."""
        with self._lock:
            sums, squares, rows = self._sums.tolist(), self._squares.tolist(), self._rows
            self._sums[:] = 0
            self._squares[:] = 0
            self._rows = 0
            self._published_at = time.monotonic()
        if not rows:
            return
        INPUT_ROWS.inc(rows)
        for gauge, total in zip(self._sum_gauges, sums, strict=True):
            gauge.inc(total)
        for gauge, total in zip(self._square_gauges, squares, strict=True):
            gauge.inc(total)


def record_model_served(model_name: str, model_version: str, alias: str) -> None:
    """Mark this version as served and every version served before as not (value 0).

    Earlier versions are set to 0 rather than removed: in multiprocess mode a removed series
    would live on in the worker's metrics file.
    """
    for labels in _served_models:
        MODEL_INFO.labels(*labels).set(0)
    labels = (model_name, model_version, alias)
    _served_models.add(labels)
    MODEL_INFO.labels(*labels).set(1)


def is_multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))


def render_metrics() -> bytes:
    """The exposition text: this process's metrics, or every worker's in multiprocess mode."""
    if not is_multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def prepare_multiprocess_dir(folder: Path) -> None:
    """An empty folder for the workers' metric files: stale files would double-count."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def mark_worker_stopped() -> None:
    """Drop this worker's live gauges (model_info, queue size) when it shuts down."""
    if is_multiprocess():
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
