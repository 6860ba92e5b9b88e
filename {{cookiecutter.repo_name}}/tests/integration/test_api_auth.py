"""API keys: prediction routes need a configured key; the audit log names its id only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.inference.api import create_app
from tests.serving import sample_rows, serving_settings, wait_until_ready

pytestmark = pytest.mark.integration

SECRET = "s3cret-value-never-logged"  # noqa: S105  # pragma: allowlist secret
OTHER_SECRET = "another-secret"  # noqa: S105  # pragma: allowlist secret


@pytest.fixture(scope="module")
def client(trained_context: ProjectContext) -> Iterator[TestClient]:
    settings = serving_settings(trained_context, keys=f"ci:{SECRET}, batch-job:{OTHER_SECRET}")
    with TestClient(create_app(settings)) as test_client:
        wait_until_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def body(trained_context: ProjectContext) -> dict[str, object]:
    return {"features": sample_rows(trained_context, 1)[0]}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
def test_protected_routes_refuse_a_missing_or_wrong_key(
    client: TestClient, body: dict[str, object], headers: dict[str, str]
) -> None:
    answers = [
        client.post("/predict", json=body, headers=headers),
        client.post("/predict/batch", json={"instances": [body]}, headers=headers),
        client.get("/model", headers=headers),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert all("X-API-Key" in answer.json()["detail"] for answer in answers)


def test_each_key_is_accepted_and_audited_by_its_id_never_its_secret(
    client: TestClient, body: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="src.inference"):
        for secret in (SECRET, OTHER_SECRET):
            response = client.post("/predict", json=body, headers={"X-API-Key": secret})
            assert response.status_code == 200
        client.post("/predict", json=body, headers={"X-API-Key": "guess"})
    audit = [record.getMessage() for record in caplog.records if "audit" in record.getMessage()]
    assert audit[0].startswith("audit: ci scored 1 rows")
    assert audit[1].startswith("audit: batch-job scored 1 rows")
    assert "refused" in audit[2]
    assert not any(SECRET in line or OTHER_SECRET in line for line in caplog.text.splitlines())


def test_operational_routes_stay_open(client: TestClient) -> None:
    for route in ("/health", "/ready", "/metrics", "/openapi.json"):
        assert client.get(route).status_code == 200, route


def test_openapi_declares_the_key_on_protected_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert schema["paths"]["/predict"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in schema["paths"]["/health"]["get"]
