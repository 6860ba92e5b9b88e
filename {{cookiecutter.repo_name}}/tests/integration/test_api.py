"""The API contract, route by route, served in-process with the trained production model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.inference.api import create_app
from tests.conftest import isolated_settings
from tests.serving import sample_rows, serving_settings, wait_for, wait_until_ready

pytestmark = pytest.mark.integration

METRIC_NAMES = (
    "api_requests_total",
    "api_request_duration_seconds",
    "model_predictions_total",
    "model_prediction_value",
    "model_info",
    "model_load_failures_total",
    "prediction_log_rows_dropped_total",
)


@pytest.fixture(scope="module")
def client(trained_context: ProjectContext) -> Iterator[TestClient]:
    settings = serving_settings(trained_context, max_batch_size=5, max_body_bytes=65536)
    with TestClient(create_app(settings)) as test_client:
        wait_until_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def rows(trained_context: ProjectContext) -> list[dict[str, Any]]:
    return sample_rows(trained_context, 3)


def test_predict_answers_what_the_production_model_predicts(
    client: TestClient, rows: list[dict[str, Any]], trained_context: ProjectContext
) -> None:
    model = trained_context.mlflow.load_predictor(trained_context.settings.model_name, "production")
    expected = model.predict_frame(pd.DataFrame(rows))
    answers = [client.post("/predict", json={"features": row}) for row in rows]
    assert [answer.status_code for answer in answers] == [200] * len(rows)
    bodies = [answer.json() for answer in answers]
    assert [body["prediction"] for body in bodies] == pytest.approx(expected["prediction"].tolist())
    assert {(body["model_name"], body["model_version"]) for body in bodies} == {
        (trained_context.settings.model_name, "1")
    }
    if model.is_regression:
        assert all("probability" not in body for body in bodies)
    else:
        probabilities = [body["probability"] for body in bodies]
        assert probabilities == pytest.approx(expected["probability"].tolist())


def test_prediction_ids_are_the_servers_never_the_clients(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    headers = {"X-Request-ID": "client-chosen"}
    ids = [client.post("/predict", json={"features": rows[0]}, headers=headers) for _ in range(3)]
    assert len({answer.json()["prediction_id"] for answer in ids}) == 3
    assert "client-chosen" not in {answer.json()["prediction_id"] for answer in ids}


def test_batch_answers_each_instance_in_order_within_its_limit(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    single = [client.post("/predict", json={"features": row}).json()["prediction"] for row in rows]
    batch = client.post("/predict/batch", json={"instances": [{"features": r} for r in rows]})
    assert batch.status_code == 200
    assert [p["prediction"] for p in batch.json()["predictions"]] == pytest.approx(single)
    too_many = client.post("/predict/batch", json={"instances": [{"features": rows[0]}] * 6})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["type"] == "too_long"
    assert client.post("/predict/batch", json={"instances": []}).status_code == 422


def test_missing_and_extra_features_are_named(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    first, *rest = rows[0]
    body = {"features": {**{name: rows[0][name] for name in rest}, "not_a_feature": 1.0}}
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert locations == {("body", "features", first), ("body", "features", "not_a_feature")}


@pytest.mark.parametrize("bad", ["1.0", True, [1.0], "NaN", "Infinity"])
def test_a_wrong_value_is_refused_at_its_feature(
    client: TestClient, rows: list[dict[str, Any]], trained_context: ProjectContext, bad: Any
) -> None:
    numeric = next(f.name for f in trained_context.view.features if f.is_numeric)
    text = json.dumps({"features": {**rows[0], numeric: "BAD"}})
    value = bad if bad in ("NaN", "Infinity") else json.dumps(bad)  # NaN is not JSON proper
    response = client.post(
        "/predict",
        content=text.replace('"BAD"', value),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "features", numeric]


def test_bodies_over_the_limit_get_413(client: TestClient, rows: list[dict[str, Any]]) -> None:
    padded = {"features": rows[0], "entity_id": "x" * 70_000}
    assert client.post("/predict", json=padded).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"features": {}, "entity_id": "'
        yield from (b"x" * 1000 for _ in range(100))
        yield b'"}'

    response = client.post("/predict", content=chunks())
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]


def test_health_ready_model_and_metrics(
    client: TestClient, rows: list[dict[str, Any]], trained_context: ProjectContext
) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    name = trained_context.settings.model_name
    ready = client.get("/ready").json()
    assert ready == {"status": "ready", "model_name": name, "model_version": "1"}
    model = client.get("/model").json()
    assert (model["version"], model["alias"], model["source"]) == (
        "1",
        "production",
        f"models:/{name}@production",
    )
    assert [item["name"] for item in model["inputs"]] == trained_context.view.feature_names
    client.post("/predict", json={"features": rows[0]})
    metrics = client.get("/metrics").text
    for metric in METRIC_NAMES:
        assert f"# TYPE {metric.removesuffix('_total')}" in metrics, metric
    assert 'api_requests_total{method="POST",route="/predict",status="200"}' in metrics
    served = 'alias="production",model_name="' + name + '",model_version="1"'
    assert "model_info{" + served + "} 1.0" in metrics


def test_without_a_model_the_api_is_alive_but_not_ready(tmp_path: Path) -> None:
    context = ProjectContext(isolated_settings(tmp_path))  # a registry with no model
    with TestClient(create_app(serving_settings(context))) as client:
        assert client.get("/health").status_code == 200
        ready = wait_for(lambda: "failed" in client.get("/ready").text and client.get("/ready"))
        assert ready.status_code == 503
        assert "points at no model version" in ready.json()["detail"]
        response = client.post("/predict", json={"features": {}})
        assert response.status_code == 503
        assert "model not loaded" in response.json()["detail"]
