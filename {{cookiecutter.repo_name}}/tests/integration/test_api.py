"""The API contract, route by route, served in-process with the trained production model
behind API keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.inference.api import MAX_ERRORS, create_app
from tests.serving import sample_rows, serving_settings, wait_for

pytestmark = pytest.mark.integration

SECRET = "s3cret-value-never-logged"  # noqa: S105  # pragma: allowlist secret
OTHER_SECRET = "another-secret"  # noqa: S105  # pragma: allowlist secret
METRICS = (
    "api_requests",
    "api_request_duration_seconds",
    "model_predictions",
    "model_prediction_value",
    "model_info",
    "model_load_failures",
    "prediction_log_rows_dropped",
)


@pytest.fixture(scope="module")
def client(trained_context: ProjectContext) -> Iterator[TestClient]:
    """Sends the key `ci` unless a test says otherwise."""
    keys = f"ci:{SECRET},batch:{OTHER_SECRET}"
    settings = serving_settings(trained_context, keys=keys, max_batch_size=5, max_body_bytes=65536)
    with TestClient(create_app(settings), headers={"X-API-Key": SECRET}) as test_client:
        wait_for(lambda: test_client.get("/ready").status_code == 200, 180, "/ready")
        yield test_client


@pytest.fixture(scope="module")
def rows(trained_context: ProjectContext) -> list[dict[str, Any]]:
    return sample_rows(trained_context, 3)


def test_predict_answers_what_the_production_model_predicts_under_its_own_ids(
    client: TestClient, rows: list[dict[str, Any]], trained_context: ProjectContext
) -> None:
    model = trained_context.mlflow.load_predictor(trained_context.settings.model_name, "production")
    expected = model.predict_frame(pd.DataFrame(rows))
    chosen = {"X-Request-ID": "client-chosen"}  # never a prediction id: labels join on those
    answers = [client.post("/predict", json={"features": r}, headers=chosen).json() for r in rows]
    assert [a["prediction"] for a in answers] == pytest.approx(expected["prediction"].tolist())
    versions = {(a["model_name"], a["model_version"]) for a in answers}
    assert versions == {(trained_context.settings.model_name, "1")}
    ids = {answer["prediction_id"] for answer in answers}
    assert len(ids) == len(rows) and "client-chosen" not in ids
    long_id = {"X-Request-ID": "x" * 129}
    assert client.post("/predict", json={"features": rows[0]}, headers=long_id).status_code == 422
    if model.is_regression:
        assert all("probability" not in answer for answer in answers)
    else:
        probabilities = [answer["probability"] for answer in answers]
        assert probabilities == pytest.approx(expected["probability"].tolist())


def test_batch_answers_each_instance_in_order_within_its_limit(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    single = [client.post("/predict", json={"features": row}).json()["prediction"] for row in rows]
    batch = client.post("/predict/batch", json={"instances": [{"features": r} for r in rows]})
    assert [p["prediction"] for p in batch.json()["predictions"]] == pytest.approx(single)
    too_many = client.post("/predict/batch", json={"instances": [{"features": rows[0]}] * 6})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["type"] == "too_long"
    assert client.post("/predict/batch", json={"instances": []}).status_code == 422


def test_a_hostile_body_gets_a_short_answer(client: TestClient) -> None:
    """Under the size limit, work and answer stay bounded whatever the body holds: the first
    invalid instance ends validation, too many unknown keys are one problem."""
    empties = b'{"instances": [' + b",".join([b"{}"] * 20_000) + b"]}"
    headers = {"Content-Type": "application/json"}
    many = client.post("/predict/batch", content=empties, headers=headers)
    unknown = client.post("/predict", json={"features": {f"x{i}": 1 for i in range(4_000)}})
    for answer in (many, unknown):
        assert answer.status_code == 422 and len(answer.content) < 4_000
    assert [problem["loc"] for problem in many.json()["detail"]] == [
        ["body", "instances", 0, "features"]
    ]
    assert [problem["type"] for problem in unknown.json()["detail"]] == ["too_many_keys"]
    some = client.post("/predict", json={"features": {f"x{i}": 1 for i in range(MAX_ERRORS)}})
    assert len(some.json()["detail"]) == MAX_ERRORS  # each named, up to MAX_ERRORS


@pytest.mark.parametrize("bad", ['"1.0"', "true", "[1.0]", "NaN", "Infinity"])
def test_a_wrong_value_is_refused_at_its_feature_without_echoing_it(
    client: TestClient, rows: list[dict[str, Any]], trained_context: ProjectContext, bad: str
) -> None:
    numeric = next(f.name for f in trained_context.view.features if f.is_numeric)
    text = json.dumps({"features": {**rows[0], numeric: "BAD"}}).replace('"BAD"', bad)
    response = client.post("/predict", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "features", numeric]


def test_bodies_over_the_limit_get_413(client: TestClient, rows: list[dict[str, Any]]) -> None:
    padded = client.post("/predict", json={"features": rows[0], "pad": "x" * 70_000})
    chunked = client.post("/predict", content=(b"x" * 1000 for _ in range(100)))  # no length
    assert padded.status_code == chunked.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_a_body_not_sent_as_json_is_refused(
    client: TestClient, rows: list[dict[str, Any]], content_type: str | None
) -> None:
    """What any web page may post without a CORS preflight is not scored (FastAPI's strict
    Content-Type check): in open `make serve` mode it cannot write the prediction log."""
    headers = {"Content-Type": content_type} if content_type else {}
    text = json.dumps({"features": rows[0]})
    response = client.post("/predict", content=text, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("key", [None, "wrong", ""])
def test_protected_routes_refuse_a_missing_or_wrong_key(
    client: TestClient, rows: list[dict[str, Any]], key: str | None
) -> None:
    bare = TestClient(client.app, headers={"X-API-Key": key} if key is not None else {})
    answers = [
        bare.post("/predict", json={"features": rows[0]}),
        bare.post("/predict/batch", json={"instances": [{"features": rows[0]}]}),
        bare.get("/model"),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert all("X-API-Key" in answer.json()["detail"] for answer in answers)
    open_routes = [bare.get(route) for route in ("/health", "/ready", "/metrics", "/docs")]
    assert [answer.status_code for answer in open_routes] == [200] * 4


def test_each_key_is_audited_by_its_id_never_its_secret(
    client: TestClient, rows: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="src.inference"):
        for secret in (SECRET, OTHER_SECRET, "guess"):
            client.post("/predict", json={"features": rows[0]}, headers={"X-API-Key": secret})
    audit = [record.getMessage() for record in caplog.records if "audit" in record.getMessage()]
    assert [line.split(" scored")[0] for line in audit[:2]] == ["audit: ci", "audit: batch"]
    assert "refused" in audit[2]
    assert SECRET not in caplog.text
    assert OTHER_SECRET not in caplog.text
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/predict"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_health_ready_model_and_metrics(
    client: TestClient, rows: list[dict[str, Any]], trained_context: ProjectContext
) -> None:
    name = trained_context.settings.model_name
    assert client.get("/health").json() == {"status": "ok"}
    ready = {"status": "ready", "model_name": name, "model_version": "1"}
    assert client.get("/ready").json() == ready
    model = client.get("/model").json()
    assert (model["model_name"], model["source"]) == (name, f"models:/{name}@production")
    assert [item["name"] for item in model["inputs"]] == trained_context.view.feature_names
    client.post("/predict", json={"features": rows[0]})
    metrics = client.get("/metrics").text
    for metric in METRICS:
        assert f"# TYPE {metric}" in metrics, metric
    assert 'api_requests_total{method="POST",route="/predict",status="200"}' in metrics
    served = 'alias="production",model_name="' + name + '",model_version="1"'
    assert "model_info{" + served + "} 1.0" in metrics
