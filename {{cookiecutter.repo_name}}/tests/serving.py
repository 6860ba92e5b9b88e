"""Helpers for the serving tests: apps on isolated settings, real servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import uvicorn
from fastapi import FastAPI

from src.context import ProjectContext
from src.inference.api import ServingSetup
from src.inference.model_state import ModelSource, RegistryModelSource
from src.inference.prediction_log import LakeWriter, PredictionLog, ProcessWriter
from src.settings import ApiSettings
from tests.conftest import free_port


def api_settings(tmp_path: Path, **overrides: Any) -> ApiSettings:
    """API settings with the audit log in `tmp_path` and no prediction log unless asked."""
    values: dict[str, Any] = {
        "audit_log": str(tmp_path / "audit.jsonl"),
        "prediction_log_enabled": False,
        **overrides,
    }
    return ApiSettings(**values)


def serving_setup(
    context: ProjectContext,
    settings: ApiSettings,
    source: ModelSource | None = None,
    log: PredictionLog | None = None,
) -> ServingSetup:
    """The app's setup: the model of `context`'s registry under `settings.model_alias`
    (production by default) unless `source` is given."""
    registry = RegistryModelSource(
        context.mlflow, context.settings.model_name, settings.model_alias
    )
    return ServingSetup(settings, source or registry, log)


def prediction_log(context: ProjectContext, flush_seconds: float = 0.2) -> PredictionLog:
    """The server's prediction log: a writer process appending to `context`'s lake."""
    return PredictionLog(
        ProcessWriter(LakeWriter(context.settings, context.view)),
        flush_seconds=flush_seconds,
        flush_rows=10_000,
        max_rows=100_000,
    )


def sample_rows(context: ProjectContext, count: int) -> list[dict[str, float]]:
    frame: pd.DataFrame = context.lake.read(context.view.table).to_pandas().head(count)
    return [
        {name: float(row[name]) for name in context.view.feature_names}
        for _, row in frame.iterrows()
    ]


def wait_for_audit_record(path: Path, request_id: str, timeout: float = 10) -> dict[str, Any]:
    """The audit record of `request_id`, polled for: the writer flushes in the background."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                record: dict[str, Any] = json.loads(line)
                if record.get("request_id") == request_id:
                    return record
        time.sleep(0.05)
    raise AssertionError(f"no audit record for {request_id} in {path}")


@contextmanager
def running_server(app: FastAPI, timeout: float = 30, port: int | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port by default) in a thread."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
