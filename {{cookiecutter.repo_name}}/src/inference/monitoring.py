"""Prometheus metrics of the online API: the one place their names are defined.

Dashboards and alert rules refer to these names; a test checks they agree.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "api_requests_total", "HTTP requests by route, method and status code.",
    ["route", "method", "status"],
)  # fmt: skip
REQUEST_LATENCY = Histogram(
    "api_request_duration_seconds",
    "Request latency by route, in seconds.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
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
    ["model_name", "model_version", "alias"],
)  # fmt: skip
MODEL_LOAD_FAILURES = Counter("model_load_failures_total", "Model loads that failed.")


def record_prediction(model_version: str, prediction: float | int | str, value: float) -> None:
    label = str(prediction) if not isinstance(prediction, float) else "value"
    PREDICTIONS.labels(model_version=model_version, predicted_class=label).inc()
    PREDICTION_VALUE.labels(model_version=model_version).observe(value)


def record_model_loaded(model_name: str, model_version: str, alias: str) -> None:
    MODEL_INFO.clear()
    MODEL_INFO.labels(model_name=model_name, model_version=model_version, alias=alias).set(1)
