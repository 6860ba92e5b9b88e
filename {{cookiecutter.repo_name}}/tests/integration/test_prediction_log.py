"""Online predictions reach the predictions table, completely, after a graceful shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.data.predictions import (
    MODEL_VERSION,
    PREDICTION_ID,
    SOURCE,
    SOURCE_ONLINE,
    read_prediction_window,
)
from src.inference.api import create_app
from tests.conftest import free_port, isolated_env
from tests.serving import api_settings, prediction_log, sample_rows, serving_setup

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def online_rows(context: ProjectContext, ids: set[str]) -> list[dict[Any, Any]]:
    frame = read_prediction_window(context.lake, datetime.now(UTC).date(), 2)
    if frame.empty:
        return []
    rows: list[dict[Any, Any]] = frame[frame[PREDICTION_ID].isin(ids)].to_dict("records")
    return rows


def test_every_prediction_is_logged_when_the_app_shuts_down(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    # A flush interval longer than the test: only the shutdown flush can write the rows.
    log = prediction_log(trained_context, flush_seconds=3600)
    setup = serving_setup(trained_context, api_settings(tmp_path), log=log)
    features = sample_rows(trained_context, 5)
    ids: set[str] = set()
    with TestClient(create_app(setup)) as client:
        for index, row in enumerate(features):
            response = client.post("/predict", json={"features": row, "entity_id": f"p-{index}"})
            ids.add(response.json()["prediction_id"])
        batch = client.post(
            "/predict/batch", json={"instances": [{"features": r} for r in features]}
        )
        ids.update(p["prediction_id"] for p in batch.json()["predictions"])
        assert log.queued_rows == 10
    rows = online_rows(trained_context, ids)
    assert {row[PREDICTION_ID] for row in rows} == ids
    assert {row[SOURCE] for row in rows} == {SOURCE_ONLINE}
    assert {row[MODEL_VERSION] for row in rows} == {"1"}
    entity = trained_context.view.entity.name
    assert sorted(str(row[entity]) for row in rows if row[entity] is not None) == [
        f"p-{i}" for i in range(5)
    ]
    first = trained_context.view.feature_names[0]
    logged = {row[PREDICTION_ID]: row[first] for row in rows}
    assert sorted(logged.values()) == sorted([r[first] for r in features] * 2)


@pytest.mark.e2e
def test_serve_prod_workers_log_everything_on_sigterm(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    """`serve --prod` with two workers: metrics summed over workers, logs complete on SIGTERM."""
    root = trained_context.settings.data_dir.parent
    port = free_port()
    env = {
        **isolated_env(root),
        "API__AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "API__ACCESS_LOG": str(tmp_path / "access.jsonl"),
        "API__PREDICTION_LOG_FLUSH_SECONDS": "3600",
        "API__METRICS_DIR": str(tmp_path / "metrics"),
        "API__ALLOW_OPEN": "true",
    }
    command = [sys.executable, "-m", "src", "serve", "--prod", "--workers", "2"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    ids: set[str] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "serve --prod did not become ready"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)
        body = {"features": sample_rows(trained_context, 1)[0]}
        for _ in range(40):  # fresh connections spread the requests over both workers
            ids.add(requests.post(f"{url}/predict", json=body, timeout=10).json()["prediction_id"])
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'api_requests_total{method="POST",route="/predict",status="200"} 40.0' in metrics
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=120)
    assert server.returncode == 0
    assert {row[PREDICTION_ID] for row in online_rows(trained_context, ids)} == ids
    access = (tmp_path / "access.jsonl").read_text().splitlines()
    assert sum('"path":"/predict"' in line for line in access) == 40
