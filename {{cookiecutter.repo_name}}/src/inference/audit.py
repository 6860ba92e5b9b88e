"""Structured JSON-lines logs: the audit log and serve-prod's access log.

Audit events (one JSON object a line, `event` naming the kind):
- `prediction`: request id, caller (the API key id, or "anonymous" without keys), route,
  model name and version, HTTP status, latency in ms, rows scored. Never the key itself.
- `model_loaded`, `model_reloaded` (with the previous version: the alias moved, i.e. a
  promotion reached serving), `model_load_failed` (with the reason).

The request path only queues a record; a background thread formats and writes it. Every
line is written with a single `write`, so workers sharing a file or a pipe never
interleave within a line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STDOUT = "stdout"
STDERR = "stderr"
# Past this many queued lines the caller writes them itself: audit lines are never dropped.
MAX_QUEUED_LINES = 100_000
# The writer wakes this often, or sooner once this many lines wait: waking it for every
# line would cost each request a thread switch.
WRITE_INTERVAL_SECONDS = 0.1
WAKE_AT_LINES = 1000


def open_sink(target: str) -> int:
    """A file descriptor for "stdout", "stderr" or a file path (created, appended to)."""
    if target == STDOUT:
        return sys.stdout.fileno()
    if target == STDERR:
        return sys.stderr.fileno()
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)


def format_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class JsonLinesLog:
    """One JSON object per line to a sink, written by a background thread."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._fd: int | None = None
        self._records: list[dict[str, Any]] = []
        self._closing = False
        self._wakeup = threading.Condition()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._fd = open_sink(self.target)
        self._thread = threading.Thread(target=self._run, name="json-lines", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        with self._wakeup:
            self._records.append(record)
            queued = len(self._records)
            if queued == WAKE_AT_LINES:
                self._wakeup.notify()
        if queued >= MAX_QUEUED_LINES:
            self._drain()

    def close(self) -> None:
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._drain()
        if self._fd is not None and self.target not in (STDOUT, STDERR):
            os.close(self._fd)
        self._fd = None

    def _run(self) -> None:
        while True:
            with self._wakeup:
                if not self._closing:
                    self._wakeup.wait(WRITE_INTERVAL_SECONDS)
                closing = self._closing
            self._drain()
            if closing:
                return

    def _drain(self) -> None:
        with self._wakeup:
            records, self._records = self._records, []
        if not records or self._fd is None:
            return
        lines = [format_line(record) for record in records]
        with self._write_lock:
            if self.target in (STDOUT, STDERR):
                # A pipe keeps only writes up to PIPE_BUF whole: one line per write.
                for line in lines:
                    os.write(self._fd, line)
            else:
                # O_APPEND places each write whole at the end of the file: one write for all.
                os.write(self._fd, b"".join(lines))


class AuditLog(JsonLinesLog):
    def record_event(self, event: str, **fields: Any) -> None:
        self.write({"time": now_iso(), "event": event, **fields})


def append_audit_event(target: str, event: str, **fields: Any) -> None:
    """Write one audit event synchronously: for commands outside the API (promotions)."""
    fd = open_sink(target)
    try:
        os.write(fd, format_line({"time": now_iso(), "event": event, **fields}))
    finally:
        if target not in (STDOUT, STDERR):
            os.close(fd)
