"""Prediction routes: `/predict`, `/predict/batch` and MLflow's `/invocations`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from src.inference.engine import NonFinitePrediction
from src.inference.guards import authenticate, parse_body, runtime_of, served_model
from src.inference.inputs import InputProblem, InvalidInput
from src.inference.invocations import UnsupportedContentType, parse_invocation
from src.inference.model_state import ServedModel
from src.inference.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    InvocationsRequest,
    InvocationsResponse,
    MlflowErrorResponse,
    Prediction,
    PredictRequest,
    PredictResponse,
)
from src.model.predictor import PredictionArrays

JSON = "application/json"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key."},
    413: {"model": ErrorResponse, "description": "Body larger than API__MAX_BODY_BYTES."},
    422: {"model": ErrorResponse, "description": "Invalid input; each problem is named."},
    503: {"model": ErrorResponse, "description": "No model loaded yet."},
}

# Request bodies the routes parse themselves; api.document_api adds their schemas.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    PredictRequest,
    BatchPredictRequest,
    InvocationsRequest,
)

router = APIRouter(tags=["predictions"])


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema_ref(model)}}}}


def json_response(body: BaseModel) -> Response:
    # Serialized by pydantic-core directly: the response model is already validated.
    return Response(body.model_dump_json(exclude_none=True), media_type=JSON)


def mark_audit(request: Request, served: ServedModel, rows: int) -> None:
    """What the audit line of this request reports (written by the observing middleware)."""
    request.state.model_name = served.predictor.model_name
    request.state.model_version = served.predictor.version
    request.state.rows = rows


def predictions_of(
    arrays: PredictionArrays, prediction_ids: Sequence[str], classes: Sequence[object] = ()
) -> list[Prediction]:
    rows = len(prediction_ids)
    probabilities = (
        arrays.probabilities.tolist() if arrays.probabilities is not None else [None] * rows
    )
    per_class: list[dict[str, float] | None] = [None] * rows
    if arrays.class_probabilities is not None and classes:
        names = [str(name) for name in classes]
        per_class = [
            dict(zip(names, row, strict=True)) for row in arrays.class_probabilities.tolist()
        ]
    return [
        Prediction(
            prediction=value,
            probability=probability,
            probabilities=by_class,
            prediction_id=prediction_id,
        )
        for value, probability, by_class, prediction_id in zip(
            arrays.predictions.tolist(), probabilities, per_class, prediction_ids, strict=True
        )
    ]


@router.post(
    "/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
    openapi_extra=json_body(PredictRequest),
    summary="Score one instance with the production model",
)
async def predict(request: Request) -> Response:
    runtime = runtime_of(request)
    authenticate(request, runtime)
    served = served_model(runtime)
    body = parse_body(PredictRequest, await request.body())
    mark_audit(request, served, 1)
    row = served.layout.row(body.features, ("body", "features"))
    matrix: np.ndarray = np.array([row], dtype=served.layout.dtype)
    prediction_id: str = request.state.request_id
    entities = None if body.entity_id is None else [body.entity_id]
    arrays = await runtime.engine.score(served, matrix, [prediction_id], entities)
    (prediction,) = predictions_of(arrays, [prediction_id], served.classes)
    predictor = served.predictor
    return json_response(
        PredictResponse(
            **prediction.model_dump(),
            model_name=predictor.model_name,
            model_version=predictor.version,
        )
    )


@router.post(
    "/predict/batch",
    response_model=BatchPredictResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
    openapi_extra=json_body(BatchPredictRequest),
    summary="Score a list of instances (at most API__MAX_BATCH_SIZE)",
)
async def predict_batch(request: Request) -> Response:
    runtime = runtime_of(request)
    authenticate(request, runtime)
    served = served_model(runtime)
    body = parse_body(BatchPredictRequest, await request.body())
    rows = len(body.instances)
    mark_audit(request, served, rows)
    check_batch_size(rows, runtime.settings.max_batch_size, ("body", "instances"))
    matrix = served.layout.matrix(
        [instance.features for instance in body.instances], ("body", "instances")
    )
    request_id: str = request.state.request_id
    prediction_ids = [f"{request_id}-{index}" for index in range(rows)]
    entities = [instance.entity_id for instance in body.instances]
    has_entities = any(entity is not None for entity in entities)
    arrays = await runtime.engine.score(
        served, matrix, prediction_ids, entities if has_entities else None
    )
    predictor = served.predictor
    return json_response(
        BatchPredictResponse(
            predictions=predictions_of(arrays, prediction_ids, served.classes),
            model_name=predictor.model_name,
            model_version=predictor.version,
        )
    )


def check_batch_size(rows: int, limit: int, location: tuple[str, ...]) -> None:
    if rows > limit:
        message = f"{rows} rows is more than the limit of {limit} (API__MAX_BATCH_SIZE)"
        raise InvalidInput([InputProblem(location, message, "too_long")])


def mlflow_error(status_code: int, message: str) -> Response:
    code = "BAD_REQUEST" if status_code == 400 else "UNSUPPORTED_MEDIA_TYPE"
    body = MlflowErrorResponse(error_code=code, message=message)
    return Response(body.model_dump_json(), status_code, media_type=JSON)


@router.post(
    "/invocations",
    response_model=InvocationsResponse,
    responses={
        400: {"model": MlflowErrorResponse, "description": "Invalid input (MLflow's format)."},
        401: ERRORS[401],
        413: ERRORS[413],
        415: {"model": MlflowErrorResponse, "description": "Content type other than JSON/CSV."},
        503: ERRORS[503],
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": schema_ref(InvocationsRequest)},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    summary="MLflow scoring-server compatible scoring (any `mlflow models serve` client)",
)
async def invocations(request: Request) -> Response:
    runtime = runtime_of(request)
    authenticate(request, runtime)
    served = served_model(runtime)
    body = await request.body()
    try:
        matrix = parse_invocation(body, request.headers.get("content-type"), served.layout)
        check_batch_size(len(matrix), runtime.settings.max_batch_size, ("rows",))
    except UnsupportedContentType as error:
        return mlflow_error(415, str(error))
    except InvalidInput as error:
        return mlflow_error(400, f"invalid input: {error}")
    mark_audit(request, served, len(matrix))
    if len(matrix) == 0:
        return json_response(InvocationsResponse(predictions=[]))
    request_id: str = request.state.request_id
    prediction_ids = [f"{request_id}-{index}" for index in range(len(matrix))]
    try:
        arrays = await runtime.engine.score(served, matrix, prediction_ids, None)
    except NonFinitePrediction as error:
        return mlflow_error(400, str(error))
    return json_response(InvocationsResponse(predictions=arrays.predictions.tolist()))
