"""Online predictions to the lake's predictions table, off the request path.

Scored rows go into a bounded in-memory buffer; a background thread writes them in
micro-batches (every `flush_seconds`, or sooner once `flush_rows` wait) and once more
when the server shuts down, so a graceful shutdown loses nothing. A failed write is
retried at the next flush; when the buffer is full, new rows are dropped and counted
(`prediction_log_rows_dropped_total`) rather than slowing requests down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pyarrow as pa

from src.data.feature_store import FeatureView
from src.data.predictions import ScoredRows, scored_rows_table
from src.inference.monitoring import (
    PREDICTION_LOG_DROPPED,
    PREDICTION_LOG_FLUSH_FAILURES,
    PREDICTION_LOG_FLUSH_SECONDS,
    PREDICTION_LOG_QUEUE,
    PREDICTION_LOG_WRITTEN,
)

logger = logging.getLogger(__name__)

TableWriter = Callable[[pa.Table], None]
# A failed final flush is retried this often before the rows are reported lost.
SHUTDOWN_ATTEMPTS = 5


class PredictionLog:
    def __init__(
        self,
        view: FeatureView,
        write: TableWriter,
        flush_seconds: float,
        flush_rows: int,
        max_rows: int,
    ) -> None:
        self.view = view
        self.write = write
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.max_rows = max_rows
        self._chunks: list[ScoredRows] = []
        self._rows = 0
        self._closing = False
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def queued_rows(self) -> int:
        return self._rows

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(self, rows: ScoredRows) -> None:
        """Queue scored rows; never blocks on the lake."""
        with self._wakeup:
            if self._rows + len(rows) > self.max_rows:
                PREDICTION_LOG_DROPPED.inc(len(rows))
                return
            self._chunks.append(rows)
            self._rows += len(rows)
            PREDICTION_LOG_QUEUE.set(self._rows)
            if self._rows >= self.flush_rows > self._rows - len(rows):
                self._wakeup.notify()  # once, when the threshold is crossed

    def close(self) -> None:
        """Write everything queued, then stop the thread."""
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        written = True
        while True:
            with self._wakeup:
                # After a failed write, wait a full interval even with a full buffer.
                if not self._closing and (self._rows < self.flush_rows or not written):
                    self._wakeup.wait(self.flush_seconds)
                closing = self._closing
            if closing:
                self._flush_at_shutdown()
                return
            written = self.flush()

    def flush(self) -> bool:
        """Write the queued rows as one micro-batch; on failure they stay queued."""
        with self._wakeup:
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return True
        started = time.perf_counter()
        try:
            self.write(scored_rows_table(chunks, self.view))
        except Exception:  # any lake failure: keep the rows for the next attempt
            logger.exception("writing %d predictions failed; retrying later", _count(chunks))
            PREDICTION_LOG_FLUSH_FAILURES.inc()
            with self._wakeup:
                self._chunks = chunks + self._chunks
            return False
        PREDICTION_LOG_FLUSH_SECONDS.observe(time.perf_counter() - started)
        PREDICTION_LOG_WRITTEN.inc(_count(chunks))
        with self._wakeup:
            self._rows -= _count(chunks)
            PREDICTION_LOG_QUEUE.set(self._rows)
        return True

    def _flush_at_shutdown(self) -> None:
        for attempt in range(SHUTDOWN_ATTEMPTS):
            if self.flush():
                return
            time.sleep(0.2 * 2**attempt)  # back off: the catalog may be busy with a commit
        logger.error("%d predictions could not be written and are lost", self._rows)


def _count(chunks: list[ScoredRows]) -> int:
    return sum(len(chunk) for chunk in chunks)
