"""Operational routes: liveness, readiness, the served model and Prometheus metrics."""

from __future__ import annotations

import mlflow
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from src.inference.guards import authenticate, runtime_of, served_model
from src.inference.monitoring import METRICS_CONTENT_TYPE, render_metrics
from src.inference.schemas import (
    ErrorResponse,
    FeatureSpec,
    HealthResponse,
    ModelDescription,
    ReadyResponse,
)

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/ping",
    summary="MLflow scoring-server health check (same as /health, for MLflow clients)",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "string"}}}}},
)
async def ping() -> Response:
    return Response("\n", media_type="application/json")


@router.get(
    "/version",
    summary="MLflow scoring-server route: the MLflow version serving",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "string"}}}}},
)
async def version() -> Response:
    return Response(mlflow.__version__, media_type="application/json")


@router.get(
    "/ready",
    summary="Readiness: a model is loaded (503 with the reason otherwise)",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    responses={503: {"model": ErrorResponse, "description": "No model loaded, and why."}},
)
async def ready(request: Request) -> ReadyResponse | JSONResponse:
    runtime = runtime_of(request)
    served = runtime.state.served
    if served is None:
        return JSONResponse(
            status_code=503, content={"detail": f"model not loaded: {runtime.state.error}"}
        )
    return ReadyResponse(
        status="ready",
        model_name=served.predictor.model_name,
        model_version=served.predictor.version,
        reload_error=runtime.state.error,
    )


@router.get(
    "/model",
    summary="The served model: name, version, alias, run, signature and load time",
    responses={401: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def model(request: Request) -> ModelDescription:
    runtime = runtime_of(request)
    authenticate(request, runtime)
    served = served_model(runtime)
    predictor = served.predictor
    return ModelDescription(
        name=predictor.model_name,
        version=predictor.version,
        alias=predictor.alias,
        run_id=predictor.run_id,
        task=predictor.task,
        source=runtime.source,
        inputs=[
            FeatureSpec(name=name, type=kind, required=name not in predictor.nullable)
            for name, kind in predictor.feature_kinds.items()
        ],
        classes=[str(name) for name in predictor.classes],
        loaded_at=predictor.loaded_at,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (every worker's under serve-prod)",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    return Response(render_metrics(), media_type=METRICS_CONTENT_TYPE)
