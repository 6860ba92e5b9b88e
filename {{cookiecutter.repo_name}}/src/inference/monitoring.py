"""What the API reports about itself: Prometheus metrics (the names alerts.yml and the
Grafana dashboards use) and the prediction log."""

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.asgi import make_asgi_app
from prometheus_client.multiprocess import MultiProcessCollector

from src.settings import ApiSettings

logger = logging.getLogger(__name__)

# prometheus-client reads it at import; serve-prod sets it for its workers.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
REGRESSION_CLASS = "value"  # the predicted_class of a regression's predictions
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
VALUE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 10, 50, 100, 200, 300, 500)

REQUESTS = Counter("api_requests_total", "HTTP requests.", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "api_request_duration_seconds", "Request latency.", ["route"], buckets=LATENCY_BUCKETS
)
PREDICTIONS = Counter(
    "model_predictions_total", "Rows predicted.", ["model_version", "predicted_class"]
)
PREDICTION_VALUE = Histogram(
    "model_prediction_value",
    "The predicted value, or the probability of the class predicted.",
    ["model_version"],
    buckets=VALUE_BUCKETS,
)
MODEL_INFO = Gauge(
    "model_info",
    "1 for the model served, 0 for those served before.",
    ["model_name", "model_version", "alias"],
    multiprocess_mode="livemax",
)
MODEL_LOAD_FAILURES = Counter("model_load_failures_total", "Model loads that failed.")
LOG_WRITTEN = Counter("prediction_log_rows_written_total", "Rows written to the lake.")
LOG_DROPPED = Counter("prediction_log_rows_dropped_total", "Rows dropped: the log was full.")
LOG_FAILURES = Counter("prediction_log_write_failures_total", "Writes that failed (retried).")


def record_model_served(model_name: str, model_version: str, alias: str) -> None:
    """Earlier versions go to 0 rather than away: a removed series lives on in a worker's file."""
    for metric in MODEL_INFO.collect():
        for sample in metric.samples:
            MODEL_INFO.labels(**sample.labels).set(0)
    MODEL_INFO.labels(model_name, model_version, alias).set(1)


def metrics_app() -> Any:
    """The /metrics ASGI app: this process's metrics, or every worker's under serve-prod."""
    if not os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        return make_asgi_app(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return make_asgi_app(registry)


class PredictionLog:
    """Holds online predictions and appends them to the lake from a thread every
    `flush_seconds`, or sooner once `flush_rows` wait. A failed append keeps the rows for
    the next one; past `max_rows` new rows are dropped and counted rather than slow a request."""

    def __init__(self, write: Callable[[pa.Table], None], schema: pa.Schema, api: ApiSettings):
        self.write, self.schema = write, schema
        self.flush_seconds = api.prediction_log_flush_seconds
        self.flush_rows, self.max_rows = api.prediction_log_flush_rows, api.prediction_log_max_rows
        self.rows: list[tuple[Any, ...]] = []
        self.pending = 0  # the rows of a batch whose write failed, first in `rows`
        self.lock, self.wake, self.stopping = threading.Lock(), threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self.run, name="prediction-log", daemon=True)

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Hold rows (in the schema's column order); never waits for the lake."""
        with self.lock:
            held = len(self.rows)
            if held + len(rows) > self.max_rows:
                LOG_DROPPED.inc(len(rows))
                return
            self.rows.extend(rows)
        if held < self.flush_rows <= held + len(rows):
            self.wake.set()  # once, when crossing: after a failure the next try waits

    def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(self.flush_seconds)
            self.wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Append every row held in one commit. A failed one is retried with exactly its rows
        (those added since wait): `write` can tell a batch whose commit landed anyway."""
        with self.lock:
            rows = self.rows[: self.pending or len(self.rows)]
        if not rows:
            return
        try:
            self.write(pa.Table.from_arrays(list(zip(*rows, strict=True)), schema=self.schema))
        except Exception:  # the lake may be down: keep the rows for the next flush
            self.pending = len(rows)
            LOG_FAILURES.inc()
            logger.exception("writing %d predictions failed; retrying later", len(rows))
            return
        with self.lock:
            del self.rows[: len(rows)]  # only this thread removes rows
        self.pending = 0
        LOG_WRITTEN.inc(len(rows))

    def close(self, timeout: float) -> None:
        """Write what is held, waiting at most `timeout` seconds; what is left is counted."""
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout)
        if self.rows:
            LOG_DROPPED.inc(len(self.rows))
            logger.error("%d predictions were not written to the lake", len(self.rows))
