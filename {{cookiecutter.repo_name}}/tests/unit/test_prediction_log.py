"""The prediction log's buffer: micro-batches, retries, a bounded queue and the last flush."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np
import pytest
from prometheus_client import REGISTRY

from src.data.predictions import SOURCE_ONLINE, ScoredRows, merge_scored_rows
from src.inference.prediction_log import InlineWriter, PredictionLog


def chunk(ids: list[str], version: str = "1") -> ScoredRows:
    rows = len(ids)
    return ScoredRows(
        prediction_ids=ids,
        entity_ids=None,
        feature_names=["a", "b"],
        features=np.ones((rows, 2)),
        predictions=np.zeros(rows, dtype=np.int64),
        probabilities=np.full(rows, 0.9),
        model_name="m",
        model_version=version,
        source=SOURCE_ONLINE,
        predicted_at=datetime.now(UTC),
        prediction_date=date(2025, 1, 1),
    )


class Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.written: list[str] = []
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, chunks: Sequence[ScoredRows]) -> None:
        with self.lock:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                raise OSError("catalog busy")
            self.written.extend(pid for c in chunks for pid in c.prediction_ids)


def test_merging_keeps_every_row_and_its_time() -> None:
    merged = merge_scored_rows([chunk(["a"]), chunk(["b", "c"]), chunk(["d"], version="2")])
    assert [list(m.prediction_ids) for m in merged] == [["a", "b", "c"], ["d"]]
    assert merged[0].features.shape == (3, 2)
    assert isinstance(merged[0].predicted_at, np.ndarray)
    assert len(merged[0].predicted_at) == 3


def test_close_writes_everything_queued() -> None:
    recorder = Recorder()
    log = PredictionLog(InlineWriter(recorder), flush_seconds=3600, flush_rows=10**6, max_rows=100)
    log.start()
    for index in range(20):
        log.submit(chunk([f"r{index}"]))
    assert recorder.written == []
    log.close()
    assert recorder.written == [f"r{index}" for index in range(20)]


def test_reaching_flush_rows_writes_without_waiting() -> None:
    recorder = Recorder()
    log = PredictionLog(InlineWriter(recorder), flush_seconds=3600, flush_rows=5, max_rows=100)
    log.start()
    for index in range(5):
        log.submit(chunk([f"r{index}"]))
    deadline = time.monotonic() + 10
    while len(recorder.written) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(recorder.written) == 5
    log.close()


def test_failed_writes_keep_the_rows_for_the_next_flush() -> None:
    recorder = Recorder(failures=2)
    log = PredictionLog(InlineWriter(recorder), flush_seconds=3600, flush_rows=10**6, max_rows=100)
    log.submit(chunk(["a", "b"]))
    assert log.flush() is False
    assert log.flush() is False
    assert log.queued_rows == 2
    assert log.flush() is True
    assert recorder.written == ["a", "b"]
    assert log.queued_rows == 0


def test_a_full_buffer_drops_new_rows_instead_of_blocking() -> None:
    recorder = Recorder()
    log = PredictionLog(InlineWriter(recorder), flush_seconds=3600, flush_rows=10**6, max_rows=3)
    log.submit(chunk(["a", "b"]))
    log.submit(chunk(["c", "d"]))  # would make 4 > 3: dropped
    log.submit(chunk(["e"]))
    assert log.flush()
    assert recorder.written == ["a", "b", "e"]


class BatchRecorder(Recorder):
    """Records how many rows each write (each Iceberg commit) held."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(failures)
        self.batches: list[int] = []

    def __call__(self, chunks: Sequence[ScoredRows]) -> None:
        super().__call__(chunks)
        self.batches.append(sum(len(c) for c in chunks))


def test_no_write_holds_more_than_flush_rows_and_a_backlog_goes_out_in_pieces() -> None:
    recorder = BatchRecorder()
    log = PredictionLog(InlineWriter(recorder), flush_seconds=3600, flush_rows=4, max_rows=100)
    for start in range(0, 10, 2):
        log.submit(chunk([f"r{n}" for n in range(start, start + 2)]))
    log.start()
    log.close()
    assert recorder.batches == [4, 4, 2]
    assert recorder.written == [f"r{n}" for n in range(10)]


def dropped_total() -> float:
    value = REGISTRY.get_sample_value("prediction_log_rows_dropped_total")
    return float(value or 0.0)


def test_rows_a_failing_shutdown_cannot_write_are_counted_as_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("src.inference.prediction_log.time.sleep", lambda _: None)
    recorder = Recorder(failures=10**6)
    log = PredictionLog(InlineWriter(recorder), flush_seconds=3600, flush_rows=10, max_rows=100)
    log.submit(chunk(["a", "b", "c"]))
    before = dropped_total()
    log.start()
    log.close()
    assert recorder.written == []
    assert dropped_total() - before == 3


@pytest.mark.parametrize("rows", [1, 3])
def test_scored_rows_length(rows: int) -> None:
    assert len(chunk([str(i) for i in range(rows)])) == rows
