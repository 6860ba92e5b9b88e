"""The API contract, served in-process with the trained production model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.errors import ModelNotFoundError
from src.inference.api import create_app, production_loader
from src.model.predictor import Predictor

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(trained_context: ProjectContext) -> Iterator[TestClient]:
    with TestClient(create_app(production_loader(trained_context))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def features(trained_context: ProjectContext) -> dict[str, float]:
    row = trained_context.lake.read(trained_context.view.table).to_pandas().iloc[0]
    return {name: float(row[name]) for name in trained_context.view.feature_names}


def test_predict_answers_with_the_production_version(
    client: TestClient, features: dict[str, float], trained_context: ProjectContext
) -> None:
    response = client.post("/predict", json={"features": features})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "1"
    assert body["model_name"] == trained_context.settings.model_name
    if trained_context.training.task == "classification":
        assert body["prediction"] in (0, 1)
        assert 0.5 <= body["probability"] <= 1.0
    else:
        assert isinstance(body["prediction"], float)
        assert "probability" not in body


def test_missing_and_extra_features_are_named(
    client: TestClient, features: dict[str, float]
) -> None:
    first, *rest = features
    body = {"features": {**{name: features[name] for name in rest}, "feature1": 1.0}}
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert ("body", "features", first) in locations
    assert ("body", "features", "feature1") in locations


@pytest.mark.parametrize("bad", ["1.0", True, None])
def test_non_numeric_values_are_refused(
    client: TestClient, features: dict[str, float], bad: object
) -> None:
    name = next(iter(features))
    response = client.post("/predict", json={"features": {**features, name: bad}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "features", name]


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_nan_and_infinity_are_refused(
    client: TestClient, features: dict[str, float], bad: str
) -> None:
    name = next(iter(features))
    payload = (
        '{"features": {'
        + ", ".join(f'"{key}": {bad if key == name else value}' for key, value in features.items())
        + "}}"
    )
    response = client.post(
        "/predict", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert name in response.text


def test_health_ready_and_metrics(client: TestClient, features: dict[str, float]) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    client.post("/predict", json={"features": features})
    metrics = client.get("/metrics").text
    assert 'api_requests_total{method="POST",route="/predict",status="200"}' in metrics
    assert 'model_info{alias="production",model_name=' in metrics


def test_without_a_model_the_api_is_alive_but_not_ready() -> None:
    def no_model() -> Predictor:
        raise ModelNotFoundError("model 'x' has no version with alias 'production'")

    with TestClient(create_app(no_model)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "alias 'production'" in ready.json()["detail"]
        assert client.post("/predict", json={"features": {"a": 1.0}}).status_code == 503
