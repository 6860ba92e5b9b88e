"""API keys: prediction routes need a configured key; the audit log names its id only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.inference.api import create_app
from src.inference.guards import PROTECTED_ROUTES
from tests.serving import api_settings, sample_rows, serving_setup, wait_for_audit_record

pytestmark = pytest.mark.integration

SECRET = "s3cret-value-never-logged"  # noqa: S105  # pragma: allowlist secret
OTHER_SECRET = "another-secret"  # noqa: S105  # pragma: allowlist secret


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth") / "audit.jsonl"


@pytest.fixture(scope="module")
def client(trained_context: ProjectContext, audit_path: Path) -> Iterator[TestClient]:
    settings = api_settings(audit_path.parent, keys=f"ci:{SECRET}, batch-job:{OTHER_SECRET}")
    with TestClient(create_app(serving_setup(trained_context, settings))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def body(trained_context: ProjectContext) -> dict[str, object]:
    return {"features": sample_rows(trained_context, 1)[0]}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
def test_prediction_routes_refuse_a_missing_or_wrong_key(
    client: TestClient, body: dict[str, object], headers: dict[str, str]
) -> None:
    for route in PROTECTED_ROUTES:
        response = (
            client.get(route, headers=headers)
            if route == "/model"
            else client.post(route, json=body, headers=headers)
        )
        assert response.status_code == 401, route
        assert "X-API-Key" in response.json()["detail"]


def test_each_configured_key_is_accepted(client: TestClient, body: dict[str, object]) -> None:
    for secret in (SECRET, OTHER_SECRET):
        assert client.post("/predict", json=body, headers={"X-API-Key": secret}).status_code == 200


def test_operational_routes_stay_open(client: TestClient) -> None:
    for route in ("/health", "/ready", "/metrics", "/ping", "/openapi.json"):
        assert client.get(route).status_code == 200, route


def test_openapi_declares_the_key_on_protected_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert schema["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_audit_log_names_the_key_id_never_the_secret(
    client: TestClient, body: dict[str, object], audit_path: Path
) -> None:
    ok = client.post("/predict", json=body, headers={"X-API-Key": SECRET})
    denied = client.post("/predict", json=body, headers={"X-API-Key": "guess"})
    accepted = wait_for_audit_record(audit_path, ok.headers["x-request-id"])
    refused = wait_for_audit_record(audit_path, denied.headers["x-request-id"])
    assert accepted["caller"] == "ci"
    assert refused["status"] == 401
    assert refused["caller"] == "unauthenticated"
    text = audit_path.read_text()
    assert SECRET not in text
    assert OTHER_SECRET not in text
