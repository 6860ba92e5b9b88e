"""Online predictions to the lake's predictions table, off the request path.

Scored rows go into a bounded in-memory buffer. A background thread takes them every
`flush_seconds` (or sooner once `flush_rows` wait), merges them into a few large chunks
and hands them to a writer; it does so once more when the server shuts down, so a
graceful shutdown loses nothing. A failed write is retried at the next flush; when the
buffer is full, new rows are dropped and counted (`prediction_log_rows_dropped_total`)
rather than slowing requests down.

The server uses a `ProcessWriter`: the Iceberg commit (Arrow conversion, Parquet, the
catalog) runs in a child process, because in the server's own interpreter it would hold
the GIL for long stretches and stall requests (measured: p99 went from milliseconds to
hundreds of milliseconds at every flush). The flushing thread only pickles arrays into a
pipe and waits, without the GIL, for the child's answer.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from src.data.predictions import ScoredRows, append_prediction_table, merge_scored_rows
from src.inference.monitoring import (
    PREDICTION_LOG_DROPPED,
    PREDICTION_LOG_FLUSH_FAILURES,
    PREDICTION_LOG_FLUSH_SECONDS,
    PREDICTION_LOG_QUEUE,
    PREDICTION_LOG_WRITTEN,
)
from src.settings import Settings

logger = logging.getLogger(__name__)

ChunksWriter = Callable[[Sequence[ScoredRows]], None]
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

    Picklable (only settings), so a child process can build its own lake from it.
    """

    settings: Settings

    def __call__(self) -> ChunksWriter:
        from src.context import build_context
        from src.data.predictions import scored_rows_table

        context = build_context(self.settings)
        lake, view = context.lake, context.view
        return lambda chunks: append_prediction_table(lake, view, scored_rows_table(chunks, view))


class PredictionWriteError(RuntimeError):
    pass


class ProcessWriter:
    """Runs the writer that `factory` builds in a child process; `write` waits for it."""

    def __init__(self, factory: Callable[[], ChunksWriter]) -> None:
        self.factory = factory
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=run_writer_process, args=(theirs, self.factory), name="prediction-writer"
        )
        self._process.start()
        theirs.close()
        self._connection = ours

    def write(self, chunks: Sequence[ScoredRows]) -> None:
        if self._connection is None or self._process is None or not self._process.is_alive():
            self._restart()
        assert self._connection is not None  # noqa: S101  # nosec B101  # _restart set it
        try:
            self._connection.send(list(chunks))
            error = self._connection.recv()
        except (EOFError, OSError) as failure:
            self._connection = None
            raise PredictionWriteError(f"the writer process died: {failure}") from failure
        if error is not None:
            raise PredictionWriteError(error)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                self._connection.send(None)
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(timeout=60)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def _restart(self) -> None:
        logger.warning("starting the prediction writer process")
        self.close()
        self.start()


def run_writer_process(connection: Connection, factory: Callable[[], ChunksWriter]) -> None:
    """The child: write each list of chunks received, answer None or the error's text."""
    write = factory()
    while True:
        chunks = connection.recv()
        if chunks is None:
            return
        try:
            write(chunks)
        except Exception as error:  # reported to the parent, which keeps the rows
            connection.send(f"{type(error).__name__}: {error}")
        else:
            connection.send(None)


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
        """Write the queued rows as one micro-batch; on failure they stay queued."""
        with self._wakeup:
            chunks, self._chunks = self._chunks, []
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
        for attempt in range(SHUTDOWN_ATTEMPTS):
            if self.flush():
                return
            time.sleep(0.2 * 2**attempt)  # back off: the catalog may be busy with a commit
        logger.error("%d predictions could not be written and are lost", self._rows)
