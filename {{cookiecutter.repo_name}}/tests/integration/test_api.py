"""The API contract, route by route, served in-process with the trained production model."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from src.context import ProjectContext
from src.errors import ModelNotFoundError
from src.inference.api import ServingSetup, create_app
from src.model.predictor import Predictor
from tests.serving import api_settings, sample_rows, serving_setup, wait_for_audit_record

pytestmark = pytest.mark.integration

METRIC_NAMES = (
    "api_requests_total",
    "api_request_duration_seconds",
    "model_predictions_total",
    "model_prediction_value",
    "model_info",
    "model_load_failures_total",
)


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api") / "audit.jsonl"


@pytest.fixture(scope="module")
def client(trained_context: ProjectContext, audit_path: Path) -> Iterator[TestClient]:
    settings = api_settings(audit_path.parent, max_batch_size=5, max_body_bytes=65536)
    with TestClient(create_app(serving_setup(trained_context, settings))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def rows(trained_context: ProjectContext) -> list[dict[str, float]]:
    return sample_rows(trained_context, 3)


@pytest.fixture(scope="module")
def features(rows: list[dict[str, float]]) -> dict[str, float]:
    return rows[0]


def test_predict_answers_with_the_production_version(
    client: TestClient, features: dict[str, float], trained_context: ProjectContext
) -> None:
    response = client.post("/predict", json={"features": features})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "1"
    assert body["model_name"] == trained_context.settings.model_name
    assert body["prediction_id"] == response.headers["x-request-id"]
    if trained_context.training.task == "classification":
        assert body["prediction"] in (0, 1)
        assert 0.5 <= body["probability"] <= 1.0
    else:
        assert isinstance(body["prediction"], float)
        assert "probability" not in body


def test_predict_matches_the_model_called_directly(
    client: TestClient, rows: list[dict[str, float]], trained_context: ProjectContext
) -> None:
    predictor = trained_context.mlflow.load_predictor(
        trained_context.settings.model_name, "production"
    )
    expected = predictor.predict_frame(pd.DataFrame(rows))["prediction"].tolist()
    served = [client.post("/predict", json={"features": row}).json()["prediction"] for row in rows]
    assert served == pytest.approx(expected)


def test_batch_scores_every_instance_in_order(
    client: TestClient, rows: list[dict[str, float]]
) -> None:
    single = [client.post("/predict", json={"features": row}).json() for row in rows]
    response = client.post(
        "/predict/batch",
        json={"instances": [{"features": row, "entity_id": f"e{i}"} for i, row in enumerate(rows)]},
    )
    assert response.status_code == 200
    body = response.json()
    # Scored together or alone, rows get the same answer (to float rounding of the BLAS).
    assert [p["prediction"] for p in body["predictions"]] == pytest.approx(
        [s["prediction"] for s in single]
    )
    request_id = response.headers["x-request-id"]
    assert [p["prediction_id"] for p in body["predictions"]] == [
        f"{request_id}-{index}" for index in range(len(rows))
    ]


def test_batch_size_limit_is_enforced(client: TestClient, features: dict[str, float]) -> None:
    response = client.post("/predict/batch", json={"instances": [{"features": features}] * 6})
    assert response.status_code == 422
    assert "6 rows is more than the limit of 5" in response.text


def test_empty_batch_is_refused(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"instances": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instances"]


def test_missing_and_extra_features_are_named(
    client: TestClient, features: dict[str, float]
) -> None:
    first, *rest = features
    body = {"features": {**{name: features[name] for name in rest}, "feature1": 1.0}}
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert locations == {("body", "features", first), ("body", "features", "feature1")}


def test_batch_problems_name_the_instance(client: TestClient, features: dict[str, float]) -> None:
    first = next(iter(features))
    broken = {name: value for name, value in features.items() if name != first}
    response = client.post(
        "/predict/batch", json={"instances": [{"features": features}, {"features": broken}]}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instances", 1, first]


@pytest.mark.parametrize("bad", ["1.0", True, None, [1.0]])
def test_non_numeric_values_are_refused(
    client: TestClient, features: dict[str, float], bad: object
) -> None:
    name = next(iter(features))
    response = client.post("/predict", json={"features": {**features, name: bad}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "features", name]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
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
    assert response.json()["detail"][0]["loc"] == ["body", "features", name]


def test_values_far_outside_the_training_range_get_a_clear_4xx(
    client: TestClient, features: dict[str, float]
) -> None:
    huge = dict.fromkeys(features, 1e308)
    huge[next(iter(features))] = -1e308
    response = client.post("/predict", json={"features": huge})
    if response.status_code == 200:  # the model extrapolated to a finite answer
        assert math.isfinite(response.json()["prediction"])
    else:
        assert response.status_code == 422
        assert "outside the range" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [("{not json", "json_invalid"), ("", "json_invalid"), ("[]", "model_type")],
)
def test_malformed_bodies_are_named(client: TestClient, payload: str, message: str) -> None:
    response = client.post("/predict", content=payload)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == message


def test_body_size_limit(client: TestClient, features: dict[str, float]) -> None:
    padding = {"features": features, "entity_id": "x" * 70_000}
    response = client.post("/predict", content=json.dumps(padding))
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]


def test_chunked_body_over_the_limit_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"features": {"a": 1.0}, "pad": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/predict", content=chunks())
    assert response.status_code == 413


def test_unknown_routes_share_one_metric_label(client: TestClient) -> None:
    assert client.get("/no/such/route").status_code == 404
    metrics = client.get("/metrics").text
    assert 'route="unmatched"' in metrics
    assert "/no/such/route" not in metrics


def test_health_ready_model_and_metrics(
    client: TestClient, features: dict[str, float], trained_context: ProjectContext
) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ping").status_code == 200
    ready = client.get("/ready").json()
    assert ready == {
        "status": "ready",
        "model_name": trained_context.settings.model_name,
        "model_version": "1",
    }
    model = client.get("/model").json()
    assert model["version"] == "1"
    assert model["alias"] == "production"
    assert model["run_id"]
    assert model["task"] == trained_context.training.task
    assert [item["name"] for item in model["inputs"]] == trained_context.view.feature_names
    assert model["source"] == f"models:/{trained_context.settings.model_name}@production"
    client.post("/predict", json={"features": features})
    metrics = client.get("/metrics").text
    for name in METRIC_NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in metrics, name
    assert 'api_requests_total{method="POST",route="/predict",status="200"}' in metrics
    assert 'model_info{alias="production",model_name=' in metrics
    assert 'model_predictions_total{model_version="1",predicted_class=' in metrics


def test_every_prediction_request_is_audited(
    client: TestClient, features: dict[str, float], audit_path: Path
) -> None:
    response = client.post("/predict", json={"features": features})
    request_id = response.headers["x-request-id"]
    client.post("/predict", json={"features": {}})
    client.get("/health")
    # The audit writer flushes in the background: poll the file with a deadline.
    record = wait_for_audit_record(audit_path, request_id)
    assert record["event"] == "prediction"
    assert record["caller"] == "anonymous"
    assert record["route"] == "/predict"
    assert record["model_version"] == "1"
    assert record["status"] == 200
    assert record["rows"] == 1
    assert record["latency_ms"] > 0


def test_a_sane_client_request_id_is_kept_and_others_replaced(
    client: TestClient, features: dict[str, float]
) -> None:
    kept = client.post("/predict", json={"features": features}, headers={"X-Request-ID": "abc-1"})
    assert kept.headers["x-request-id"] == "abc-1"
    assert kept.json()["prediction_id"] == "abc-1"
    replaced = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


def test_without_a_model_the_api_is_alive_but_not_ready(tmp_path: Path) -> None:
    class NoModel:
        description = "models:/x@production"

        def current_version(self) -> str | None:
            raise ModelNotFoundError("model 'x' has no version with alias 'production'")

        def load(self, version: str) -> Predictor:
            raise AssertionError("never called")

    settings = api_settings(tmp_path)
    failures_before = REGISTRY.get_sample_value("model_load_failures_total") or 0.0
    with TestClient(create_app(ServingSetup(settings, NoModel()))) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "alias 'production'" in ready.json()["detail"]
        for path in ("/predict", "/invocations", "/predict/batch"):
            response = client.post(path, json={"features": {"a": 1.0}})
            assert response.status_code == 503
            assert "model not loaded" in response.text
        failures = REGISTRY.get_sample_value("model_load_failures_total")
        assert failures == failures_before + 1
