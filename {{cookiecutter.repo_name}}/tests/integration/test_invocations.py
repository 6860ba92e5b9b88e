"""`POST /invocations` answers MLflow's own clients and payloads like `mlflow models serve`.

Payloads are built by MLflow's serving-input helpers, and the answers are compared with
the pyfunc model MLflow itself loads from the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.models import convert_input_example_to_serving_input
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from mlflow.utils.proto_json_utils import dump_input_data

from src.context import ProjectContext
from src.inference.api import create_app
from tests.serving import api_settings, running_server, serving_setup

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def frame(trained_context: ProjectContext) -> pd.DataFrame:
    rows: pd.DataFrame = trained_context.lake.read(trained_context.view.table).to_pandas()
    return rows[trained_context.view.feature_names].head(7).reset_index(drop=True)


@pytest.fixture(scope="module")
def expected(trained_context: ProjectContext, frame: pd.DataFrame) -> list[float]:
    """What MLflow's own pyfunc flavour predicts for these rows."""
    model = mlflow.pyfunc.load_model(f"models:/{trained_context.settings.model_name}@production")
    return [float(value) for value in np.asarray(model.predict(frame))]


@pytest.fixture(scope="module")
def client(
    trained_context: ProjectContext, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = api_settings(tmp_path_factory.mktemp("invocations"), max_batch_size=10)
    with TestClient(create_app(serving_setup(trained_context, settings))) as test_client:
        yield test_client


def predictions(response: Any) -> list[float]:
    body = response.json()
    return [float(value) for value in body["predictions"]]


def test_mlflow_scoring_client_works_unchanged(
    trained_context: ProjectContext,
    frame: pd.DataFrame,
    expected: list[float],
    tmp_path: Path,
) -> None:
    """MLflow's ScoringServerClient (real HTTP: /ping, then /invocations) against our API."""
    app = create_app(serving_setup(trained_context, api_settings(tmp_path)))
    with running_server(app) as url:
        host, port = url.removeprefix("http://").split(":")
        scoring = ScoringServerClient(host, int(port))  # type: ignore[no-untyped-call]
        scoring.wait_server_ready(timeout=30)  # type: ignore[no-untyped-call]
        for data in (frame, frame.to_numpy()):
            answer = scoring.invoke(data)
            assert [float(v) for v in answer.get_predictions(predictions_format="ndarray")] == (
                pytest.approx(expected)
            )


def test_serving_input_example_payload(
    client: TestClient, frame: pd.DataFrame, expected: list[float]
) -> None:
    payload = convert_input_example_to_serving_input(frame)
    assert payload is not None
    assert "dataframe_split" in json.loads(payload)
    response = client.post(
        "/invocations", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert predictions(response) == pytest.approx(expected)


@pytest.mark.parametrize(
    "build",
    [
        lambda f: dump_input_data(f),  # dataframe_split, as MLflow's client sends it
        lambda f: dump_input_data(f.to_numpy()),  # inputs: rows in signature order
        lambda f: dump_input_data(f.to_numpy(), inputs_key="instances"),
        lambda f: json.dumps({"dataframe_records": f.to_dict(orient="records")}),
        lambda f: json.dumps({"instances": f.to_dict(orient="records")}),
        lambda f: json.dumps({"inputs": f.to_dict(orient="list")}),
        lambda f: dump_input_data(f, params={"unused": 1}),
    ],
    ids=["split", "inputs-rows", "instances-rows", "records", "instances", "columns", "params"],
)
def test_every_mlflow_json_format(
    client: TestClient, frame: pd.DataFrame, expected: list[float], build: object
) -> None:
    payload = build(frame)  # type: ignore[operator]
    response = client.post(
        "/invocations", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert predictions(response) == pytest.approx(expected)


def test_single_record_as_columns_of_scalars(
    client: TestClient, frame: pd.DataFrame, expected: list[float]
) -> None:
    payload = convert_input_example_to_serving_input(frame.iloc[0].to_dict())
    assert payload is not None
    response = client.post(
        "/invocations", content=payload, headers={"Content-Type": "application/json"}
    )
    assert predictions(response) == pytest.approx(expected[:1])


def test_csv_body(client: TestClient, frame: pd.DataFrame, expected: list[float]) -> None:
    with_id = frame.assign(patient_id=[f"p{i}" for i in range(len(frame))])
    response = client.post(
        "/invocations", content=with_id.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert predictions(response) == pytest.approx(expected)


def test_extra_columns_are_ignored_like_mlflow(
    client: TestClient, frame: pd.DataFrame, expected: list[float]
) -> None:
    payload = dump_input_data(frame.assign(unused_column=1.0))
    response = client.post(
        "/invocations", content=payload, headers={"Content-Type": "application/json"}
    )
    assert predictions(response) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"data": []}', "exactly one of"),
        ('{"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}', "columns"),
        ('{"dataframe_records": [{"a": 1}], "inputs": []}', "exactly one of"),
        ('{"instances": [[1.0, 2.0]]}', "must be a list of"),
        ('{"inputs": {"a": [1, 2], "b": [1]}}', "same length"),
    ],
)
def test_bad_payloads_get_mlflow_style_400(client: TestClient, payload: str, named: str) -> None:
    response = client.post(
        "/invocations", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "BAD_REQUEST"
    assert named in body["message"]


def test_bad_values_are_named_by_row_and_column(client: TestClient, frame: pd.DataFrame) -> None:
    records = frame.head(2).to_dict(orient="records")
    name = frame.columns[1]
    records[1][name] = "high"
    response = client.post("/invocations", json={"dataframe_records": records})
    assert response.status_code == 400
    assert f"dataframe_records.1.{name}: must be a number" in response.json()["message"]
    csv = frame.head(1).to_csv(index=False).replace(str(frame.iloc[0, 0]), "nan", 1)
    response = client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 400
    assert f"csv.data.0.{frame.columns[0]}: must be a finite number" in response.json()["message"]


def test_unsupported_content_type_is_415(client: TestClient) -> None:
    response = client.post("/invocations", content=b"x", headers={"Content-Type": "image/png"})
    assert response.status_code == 415
    assert "image/png" in response.json()["message"]


def test_row_limit_applies(client: TestClient, frame: pd.DataFrame) -> None:
    big = pd.concat([frame, frame])
    response = client.post(
        "/invocations", content=dump_input_data(big), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "more than the limit of 10" in response.json()["message"]
