"""Online predictions land in the lake's predictions table, every one of them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import requests
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.data.predictions import PREDICTION_ID, SOURCE, SOURCE_ONLINE, read_prediction_window
from src.inference.api import create_app
from tests.conftest import isolated_env, isolated_settings
from tests.serving import sample_rows, serve_process, serving_settings, wait_until_ready

pytestmark = pytest.mark.integration


def logged_rows(context: ProjectContext, ids: set[str]) -> list[dict[str, Any]]:
    frame = read_prediction_window(context.lake, datetime.now(UTC).date(), 2)
    if frame.empty:
        return []
    return cast(list[dict[str, Any]], frame[frame[PREDICTION_ID].isin(ids)].to_dict("records"))


def test_every_prediction_lands_in_the_table_when_the_app_stops(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    # A fresh lake, and a flush interval longer than the test: the shutdown flush writes.
    settings = serving_settings(
        trained_context, prediction_log_enabled=True, prediction_log_flush_seconds=3600
    ).model_copy(update={"data_dir": tmp_path / "data"})
    features = sample_rows(trained_context, 3)
    with TestClient(create_app(settings)) as client:
        wait_until_ready(client)
        single = [
            client.post("/predict", json={"features": row, "entity_id": f"p-{i}"}).json()
            for i, row in enumerate(features)
        ]
        batch = client.post(
            "/predict/batch", json={"instances": [{"features": r} for r in features]}
        )
    ids = {answer["prediction_id"] for answer in [*single, *batch.json()["predictions"]]}
    rows = logged_rows(ProjectContext(settings), ids)
    assert {row[PREDICTION_ID] for row in rows} == ids
    assert {row[SOURCE] for row in rows} == {SOURCE_ONLINE}
    entity = trained_context.view.entity.name
    assert sorted(str(row[entity]) for row in rows if row[entity] is not None) == [
        "p-0",
        "p-1",
        "p-2",
    ]
    first = trained_context.view.feature_names[0]
    assert sorted(row[first] for row in rows) == sorted([r[first] for r in features] * 2)


@pytest.mark.e2e
def test_two_workers_on_a_fresh_catalog_log_everything_by_sigterm(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    """serve-prod with two workers: no race creating the catalog, metrics summed over the
    workers, every prediction in the table once the process stopped."""
    env = {
        **isolated_env(trained_context.settings.data_dir.parent),
        "DATA_DIR": str(tmp_path / "data"),
        "API__ALLOW_OPEN": "true",
        "API__PREDICTION_LOG_FLUSH_SECONDS": "0.5",
    }
    with serve_process(env, tmp_path / "serve.log", "--prod", "--workers", "2") as server:
        wait_until_ready(server.url)
        body = {"features": sample_rows(trained_context, 1)[0]}
        answers = [requests.post(f"{server.url}/predict", json=body, timeout=10) for _ in range(40)]
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        seconds = server.stop()
    assert 'api_requests_total{method="POST",route="/predict",status="200"} 40.0' in metrics
    assert server.process.returncode == 0
    assert seconds < 10
    assert "serving WITHOUT authentication" in server.log.read_text()  # open, and says so
    ids = {answer.json()["prediction_id"] for answer in answers}
    context = ProjectContext(
        isolated_settings(trained_context.settings.data_dir.parent, data_dir=tmp_path / "data")
    )
    assert {row[PREDICTION_ID] for row in logged_rows(context, ids)} == ids
