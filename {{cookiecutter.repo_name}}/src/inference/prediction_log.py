"""Online predictions to the lake's predictions table, off the request path.

Scored rows go into a bounded in-memory buffer. A background thread takes them every
`flush_seconds` (or sooner once `flush_rows` wait), merges them into a few large chunks
and hands them to a writer; it does so once more when the server shuts down, so a
graceful shutdown loses nothing. A failed write is retried at the next flush; when the
buffer is full, new rows are dropped and counted (`prediction_log_rows_dropped_total`,
alerted on by `PredictionLogDroppingRows`) rather than slowing requests down.

Each write is one Iceberg commit of at most `flush_rows` rows (a backlog goes out in
several), so the table gets at most one small file per worker per `flush_seconds` (5
minutes by default: 288 a day per worker) instead of one every few seconds, and
`make lake-maintenance` compacts the closed days.

The server uses a `ProcessWriter`: the Iceberg commit (Arrow conversion, Parquet, the
catalog) runs in a child process (src/inference/prediction_writer.py), because in the
server's own interpreter it would hold the GIL for long stretches and stall requests
(measured: p99 went from milliseconds to hundreds of milliseconds at every flush). The
flushing thread only pickles arrays into a pipe and waits, without the GIL, for the
child's answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess  # nosec B404  # starts our own writer module
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from src.data.feature_store import FeatureView
from src.data.predictions import (
    ScoredRows,
    append_prediction_table,
    merge_scored_rows,
    scored_rows_table,
)
from src.inference.monitoring import (
    PREDICTION_LOG_DROPPED,
    PREDICTION_LOG_FLUSH_FAILURES,
    PREDICTION_LOG_FLUSH_SECONDS,
    PREDICTION_LOG_QUEUE,
    PREDICTION_LOG_WRITTEN,
)
from src.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)

ChunksWriter = Callable[[Sequence[ScoredRows]], None]
WRITER_MODULE = "src.inference.prediction_writer"
# A failed final flush is retried this often before the rows are reported lost.
SHUTDOWN_ATTEMPTS = 5


class RowsWriter(Protocol):
    def start(self) -> None: ...

    def write(self, chunks: Sequence[ScoredRows]) -> None: ...

    def close(self) -> None: ...


class InlineWriter:
    """Writes in the calling thread: for tests and tools, not for the server."""

    def __init__(self, write: ChunksWriter) -> None:
        self._write = write

    def start(self) -> None:
        pass

    def write(self, chunks: Sequence[ScoredRows]) -> None:
        self._write(chunks)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class LakeWriter:
    """Appends chunks to the predictions table of the lake the settings describe.

    Picklable (settings and the feature view), so a child process can build its own lake;
    it imports only the data layer, which starts in a fraction of the full stack's time.
    """

    settings: Settings
    view: FeatureView

    def __call__(self) -> ChunksWriter:
        from src.data.lake import build_lake

        lake, view = build_lake(self.settings), self.view
        return lambda chunks: append_prediction_table(lake, view, scored_rows_table(chunks, view))


class PredictionWriteError(RuntimeError):
    pass


class ProcessWriter:
    """Runs the writer that `factory` builds in a child process; `write` waits for it.

    The child is `python -m src.inference.prediction_writer`, talking over two pipes with
    pickled messages (multiprocessing's `Connection`); it imports only the data layer.
    """

    def __init__(self, factory: Callable[[], ChunksWriter]) -> None:
        self.factory = factory
        self._requests: Connection | None = None
        self._answers: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        self._process = subprocess.Popen(  # noqa: S603  # nosec B603  # our own module, no shell
            [sys.executable, "-m", WRITER_MODULE, str(request_read), str(answer_write)],
            pass_fds=(request_read, answer_write),
            cwd=PROJECT_ROOT,
        )
        os.close(request_read)
        os.close(answer_write)
        self._requests = Connection(request_write, readable=False)
        self._answers = Connection(answer_read, writable=False)
        self._requests.send(self.factory)

    def write(self, chunks: Sequence[ScoredRows]) -> None:
        if self._process is None or self._process.poll() is not None:
            self._restart()
        assert self._requests is not None and self._answers is not None  # noqa: S101  # nosec B101
        try:
            self._requests.send(list(chunks))
            error = self._answers.recv()
        except (EOFError, OSError) as failure:
            self.close()
            raise PredictionWriteError(f"the writer process died: {failure}") from failure
        if error is not None:
            raise PredictionWriteError(error)

    def close(self) -> None:
        if self._requests is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                self._requests.send(None)
            self._requests.close()
            self._requests = None
        if self._answers is not None:
            self._answers.close()
            self._answers = None
        if self._process is not None:
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _restart(self) -> None:
        logger.warning("starting the prediction writer process")
        self.close()
        self.start()


class PredictionLog:
    def __init__(
        self, writer: RowsWriter, flush_seconds: float, flush_rows: int, max_rows: int
    ) -> None:
        self.writer = writer
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
        self.writer.start()
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
            if self._rows >= self.flush_rows > self._rows - len(rows):
                self._wakeup.notify()  # once, when the threshold is crossed

    def close(self) -> None:
        """Write everything queued, then stop the thread and the writer."""
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.writer.close()

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
        """Write up to `flush_rows` queued rows as one micro-batch; on failure they stay queued."""
        with self._wakeup:
            chunks = take_rows(self._chunks, self.flush_rows)
            self._chunks = self._chunks[len(chunks) :]
        PREDICTION_LOG_QUEUE.set(self._rows)
        if not chunks:
            return True
        count = sum(len(chunk) for chunk in chunks)
        merged = merge_scored_rows(chunks)
        started = time.perf_counter()
        try:
            self.writer.write(merged)
        except Exception:  # any lake failure: keep the rows for the next attempt
            logger.exception("writing %d predictions failed; retrying later", count)
            PREDICTION_LOG_FLUSH_FAILURES.inc()
            with self._wakeup:
                self._chunks = merged + self._chunks
            return False
        PREDICTION_LOG_FLUSH_SECONDS.observe(time.perf_counter() - started)
        PREDICTION_LOG_WRITTEN.inc(count)
        with self._wakeup:
            self._rows -= count
        PREDICTION_LOG_QUEUE.set(self._rows)
        return True

    def _flush_at_shutdown(self) -> None:
        failures = 0
        while self._chunks and failures < SHUTDOWN_ATTEMPTS:
            if not self.flush():
                time.sleep(0.2 * 2**failures)  # back off: the catalog may be busy with a commit
                failures += 1
        if self._rows:
            # Counted like rows refused by a full buffer: never lost without a trace.
            PREDICTION_LOG_DROPPED.inc(self._rows)
            logger.error("%d predictions could not be written and are lost", self._rows)


def take_rows(chunks: Sequence[ScoredRows], limit: int) -> list[ScoredRows]:
    """The first chunks holding at most `limit` rows (always at least one chunk)."""
    taken: list[ScoredRows] = []
    rows = 0
    for chunk in chunks:
        if taken and rows + len(chunk) > limit:
            break
        taken.append(chunk)
        rows += len(chunk)
    return taken
