"""The online prediction API: an app factory whose lifespan loads the production model.

Routes: POST /predict (the seed's body), GET /health, GET /ready, GET /metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from src.context import ProjectContext, build_context
from src.data.predictions import PREDICTION, PROBABILITY
from src.errors import ProjectError
from src.inference.monitoring import (
    MODEL_LOAD_FAILURES,
    REQUEST_LATENCY,
    REQUESTS,
    record_model_loaded,
    record_prediction,
)
from src.model.predictor import Predictor

# Strict: a string or a boolean is not a number; NaN and infinities are refused.
FeatureValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]

PredictorLoader = Callable[[], Predictor]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    features: dict[str, FeatureValue] = Field(
        description="Feature name to value; exactly the model's features."
    )


class PredictResponse(BaseModel):
    prediction: int | float
    probability: float | None = Field(
        default=None, description="Probability of the predicted class (classification only)."
    )
    model_name: str
    model_version: str


@dataclass
class ModelState:
    predictor: Predictor | None = None
    error: str | None = None


def check_feature_names(features: dict[str, float], expected: list[str]) -> None:
    """422 naming every missing and every unexpected feature, in FastAPI's error format."""
    errors = [
        {"type": "missing", "loc": ("body", "features", name), "msg": "Field required"}
        for name in expected
        if name not in features
    ]
    errors += [
        {
            "type": "extra_forbidden",
            "loc": ("body", "features", name),
            "msg": "Extra inputs are not permitted: not a feature of the model",
        }
        for name in features
        if name not in set(expected)
    ]
    if errors:
        raise RequestValidationError(errors)


def get_predictor(request: Request) -> Predictor:
    state: ModelState = request.app.state.model
    if state.predictor is None:
        raise HTTPException(status_code=503, detail=f"model not loaded: {state.error}")
    return state.predictor


def production_loader(context: ProjectContext) -> PredictorLoader:
    """`models:/<model_name>@<alias>`, the alias of the settings (production by default)."""
    alias = context.settings.api.model_alias
    return lambda: context.mlflow.load_predictor(context.settings.model_name, alias)


def create_app(load_predictor: PredictorLoader | None = None) -> FastAPI:
    """Build the app; without a loader it serves `models:/<model_name>@production`."""
    loader = load_predictor or production_loader(build_context())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ModelState()
        try:
            state.predictor = loader()
            record_model_loaded(
                state.predictor.model_name, state.predictor.version, state.predictor.alias
            )
        except ProjectError as error:
            MODEL_LOAD_FAILURES.inc()
            state.error = str(error)
        app.state.model = state
        yield

    app = FastAPI(title="{{ cookiecutter.project_name }} prediction API", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        # Echoing the input back could hold NaN, which JSON cannot carry; the location and
        # message name the problem on their own.
        detail = [
            {"type": item["type"], "loc": list(item["loc"]), "msg": item["msg"]}
            for item in error.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUEST_LATENCY.labels(route=path).observe(time.perf_counter() - started)
        REQUESTS.labels(route=path, method=request.method, status=str(response.status_code)).inc()
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready(request: Request) -> dict[str, str]:
        predictor = get_predictor(request)
        return {"status": "ready", "model_version": predictor.version}

    @app.post("/predict", response_model_exclude_none=True)
    def predict(
        body: PredictRequest, predictor: Annotated[Predictor, Depends(get_predictor)]
    ) -> PredictResponse:
        check_feature_names(body.features, predictor.feature_names)
        row = pd.DataFrame([body.features], columns=predictor.feature_names)
        result = predictor.predict_frame(row)
        prediction = result[PREDICTION].iloc[0].item()
        probability = float(result[PROBABILITY].iloc[0]) if PROBABILITY in result else None
        record_prediction(
            predictor.version, prediction, probability if probability is not None else prediction
        )
        return PredictResponse(
            prediction=prediction,
            probability=probability,
            model_name=predictor.model_name,
            model_version=predictor.version,
        )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
