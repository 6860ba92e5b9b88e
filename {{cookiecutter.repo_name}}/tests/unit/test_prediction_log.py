"""The prediction log: rows wait in memory for the lake, never block a request, survive
failed writes, and the log never holds the process at shutdown."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
from prometheus_client import REGISTRY

from src.inference.monitoring import PredictionLog
from src.settings import ApiSettings
from tests.serving import wait_for

# An append every 0.01 s, or as soon as 2 rows wait.
FAST = ApiSettings(prediction_log_flush_seconds=0.01, prediction_log_flush_rows=2)
SCHEMA = pa.schema([pa.field("prediction_id", pa.string()), pa.field("value", pa.float64())])


class FlakyLake:
    """Fails while `down` is set, hangs while `hang` is clear; records what it wrote."""

    def __init__(self) -> None:
        self.down, self.hang, self.written = threading.Event(), threading.Event(), list[str]()
        self.hang.set()

    def write(self, table: pa.Table) -> None:
        self.hang.wait()
        if self.down.is_set():
            raise ConnectionError("the catalog is down")
        self.written.extend(table.column("prediction_id").to_pylist())


def rows(*ids: str) -> list[tuple[str, float]]:
    return [(name, 1.0) for name in ids]


def test_failed_writes_keep_the_rows_until_the_lake_is_back() -> None:
    lake = FlakyLake()
    lake.down.set()
    log = PredictionLog(lake.write, SCHEMA, FAST)
    log.thread.start()
    log.add(rows("a", "b", "c"))
    failures = "prediction_log_write_failures_total"
    before = REGISTRY.get_sample_value(failures) or 0.0
    wait_for(lambda: (REGISTRY.get_sample_value(failures) or 0.0) > before)
    assert lake.written == []
    lake.down.clear()
    wait_for(lambda: len(lake.written) == 3)
    log.close(timeout=5)
    assert lake.written == ["a", "b", "c"]  # in order, each once


def test_a_full_log_drops_and_counts_new_rows_without_waiting() -> None:
    lake = FlakyLake()
    lake.hang.clear()  # the lake answers nothing
    log = PredictionLog(lake.write, SCHEMA, FAST.model_copy(update={"prediction_log_max_rows": 3}))
    log.thread.start()
    dropped = REGISTRY.get_sample_value("prediction_log_rows_dropped_total") or 0.0
    started = time.monotonic()
    for name in "abcde":
        log.add(rows(name))
    assert time.monotonic() - started < 0.5
    assert REGISTRY.get_sample_value("prediction_log_rows_dropped_total") == dropped + 2
    started = time.monotonic()
    log.close(timeout=0.5)  # the write still hangs: close gives up on time
    assert time.monotonic() - started < 2
    assert REGISTRY.get_sample_value("prediction_log_rows_dropped_total") == dropped + 5
    lake.hang.set()
