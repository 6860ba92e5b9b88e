"""The prediction log: rows wait in memory for the lake, never block a request, survive
failed writes (a retry of one that landed is no duplicate), and the log never holds the
process at shutdown."""

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from prometheus_client import REGISTRY

from src.context import ProjectContext
from src.data import predictions as p
from src.inference.monitoring import PredictionLog
from src.names import PREDICTIONS_TABLE
from src.settings import ApiSettings

# An append every 0.01 s, or as soon as 2 rows wait.
FAST = ApiSettings(prediction_log_flush_seconds=0.01, prediction_log_flush_rows=2)
SCHEMA = pa.schema([pa.field("prediction_id", pa.string()), pa.field("value", pa.float64())])


def test_a_failed_write_is_retried_with_its_rows_never_twice(context: ProjectContext) -> None:
    """The catalog is down, then takes a commit whose reply is lost: both retries are a, b
    exactly (c waits); the second appends nothing, a snapshot carrying the batch's key, a."""
    now, schema, tries = datetime.now(UTC), p.predictions_schema(context.view), list[str]()
    required: dict[str, Any] = {p.MODEL_NAME: "m", p.MODEL_VERSION: "1", p.PREDICTED_AT: now}
    required |= {p.SOURCE: p.SOURCE_ONLINE, p.PREDICTION_DATE: now.date()}
    row = {i: tuple({p.PREDICTION_ID: i, **required}.get(n) for n in schema.names) for i in "abc"}

    def write(table: pa.Table) -> None:
        tries.append(table[p.PREDICTION_ID][0].as_py())
        if len(tries) == 1:
            raise ConnectionError("the catalog is down")
        p.append_prediction_table(context.lake, context.view, table)
        if len(tries) == 2:
            raise ConnectionError("the reply to the commit was lost")

    failures = REGISTRY.get_sample_value("prediction_log_write_failures_total") or 0.0
    log = PredictionLog(write, schema, FAST)
    log.add([row["a"], row["b"]])
    log.flush()
    log.add([row["c"]])
    for _ in range(3):
        log.flush()
    ids = context.lake.read(PREDICTIONS_TABLE).column(p.PREDICTION_ID).to_pylist()
    assert (tries, sorted(ids), log.rows) == (["a", "a", "a", "c"], ["a", "b", "c"], [])
    assert REGISTRY.get_sample_value("prediction_log_write_failures_total") == failures + 2


def test_a_full_log_drops_and_counts_new_rows_without_waiting() -> None:
    hang = threading.Event()

    def write(table: pa.Table) -> None:
        hang.wait()  # the lake answers nothing

    log = PredictionLog(write, SCHEMA, FAST.model_copy(update={"prediction_log_max_rows": 3}))
    log.thread.start()
    dropped = REGISTRY.get_sample_value("prediction_log_rows_dropped_total") or 0.0
    started = time.monotonic()
    for name in "abcde":
        log.add([(name, 1.0)])
    assert time.monotonic() - started < 0.5
    assert REGISTRY.get_sample_value("prediction_log_rows_dropped_total") == dropped + 2
    started = time.monotonic()
    log.close(timeout=0.5)  # the write still hangs: close gives up on time
    assert time.monotonic() - started < 2
    assert REGISTRY.get_sample_value("prediction_log_rows_dropped_total") == dropped + 5
    hang.set()
