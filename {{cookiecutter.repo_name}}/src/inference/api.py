"""The online prediction API (FastAPI) and the server that runs it (`python -m src serve`).

Routes: POST /predict (the seed's body), POST /predict/batch, GET /health, GET /ready,
GET /model, GET /metrics; docs/serving.md describes them. Bodies are typed by the models
of src/inference/schemas.py, built from config/features.yaml. The model is loaded by a
background thread once the server answers (src/inference/model_state.py); predictions go
to the lake's predictions table through the prediction log (src/inference/monitoring.py).
"""

import copy
import hmac
import logging
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.context import ProjectContext
from src.data.predictions import SOURCE_ONLINE, append_prediction_table, predictions_schema
from src.errors import ConfigError
from src.inference import monitoring
from src.inference.model_state import Batcher, ModelWatcher
from src.inference.schemas import Contract, ModelDescription, Ready
from src.model.predictor import Predictor
from src.settings import Settings, get_settings

logger = logging.getLogger(__name__)

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="key_id:secret's secret")
ANONYMOUS = "anonymous"
SOURCE_DIR = Path(__file__).resolve().parents[1]
# What the prediction log may take at shutdown: with the graceful shutdown of in-flight
# requests (API__GRACEFUL_SHUTDOWN_SECONDS) well under the 10 s a container gets.
SHUTDOWN_FLUSH_SECONDS = 3.0
MAX_ERRORS = 20
GIL_SWITCH_SECONDS = 0.0005
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid X-API-Key"},
    413: {"description": "Body over API__MAX_BODY_BYTES"},
    503: {"description": "No model loaded yet"},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app serving `models:/<MODEL_NAME>@<API__MODEL_ALIAS>` (uvicorn's factory)."""
    settings = settings or get_settings()
    context, api = ProjectContext(settings), settings.api
    # A store the settings cannot locate is a ConfigError now; one that is down is retried.
    stores = [settings.resolved_tracking_uri]
    if api.prediction_log_enabled and settings.app_env != "aws":  # the SQL catalog
        stores.append(settings.resolved_catalog_uri)
    model = ModelWatcher(context, settings.model_name, api.model_alias)
    log = None
    if api.prediction_log_enabled:
        log = monitoring.PredictionLog(
            # The lake is built on first use, in the log's thread: a catalog down at start
            # delays the log, never the server, and is retried at the next flush.
            lambda table: append_prediction_table(context.lake, context.view, table),
            predictions_schema(context.view),
            api.prediction_log_flush_seconds,
            api.prediction_log_flush_rows,
            api.prediction_log_max_rows,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The prediction log and the model watcher run Python in threads: a request waiting
        # for the interpreter gets it within 0.5 ms instead of 5 (p99 under load with a
        # flush every second went from 13-32 ms to 11 ms; docs/serving.md).
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        model.start(api.reload_interval_seconds)
        if log is not None:
            log.start()
        yield
        model.stopped.set()
        if log is not None:
            log.close(SHUTDOWN_FLUSH_SECONDS)

    app = FastAPI(
        title=f"{settings.model_name} prediction API",
        description="Serves the registry's model; see docs/serving.md.",
        lifespan=lifespan,
    )
    app.add_middleware(MeteredRequests, max_bytes=api.max_body_bytes)
    app.add_exception_handler(RequestValidationError, name_invalid_input)
    app.mount("/metrics", monitoring.metrics_app())
    caller = Security(check_key(api.api_keys))
    served = Depends(model.current)
    add_prediction_routes(app, Contract(context.view, api.max_batch_size), caller, served, log)
    add_operation_routes(app, model, context, caller, served)
    return app


async def name_invalid_input(request: Request, error: Exception) -> JSONResponse:
    """422 naming each problem, without echoing the input (it may hold NaN, which JSON
    cannot carry) and with at most MAX_ERRORS of them, so the answer stays small."""
    problems = error.errors() if isinstance(error, RequestValidationError) else []
    detail = [{key: item[key] for key in ("type", "loc", "msg")} for item in problems]
    return JSONResponse({"detail": detail[:MAX_ERRORS]}, 422)


def check_key(keys: dict[str, SecretStr]) -> Callable[..., Awaitable[str]]:
    """The caller's key id; every key is compared in constant time, without an early exit."""
    secrets = [(key_id, secret.get_secret_value().encode()) for key_id, secret in keys.items()]

    async def caller(presented: Annotated[str | None, Security(API_KEY)] = None) -> str:
        if not secrets:
            return ANONYMOUS
        matched = None
        for key_id, secret in secrets:
            if hmac.compare_digest((presented or "").encode(), secret):
                matched = key_id
        if matched is None:
            logger.warning("audit: refused a request without a valid X-API-Key")
            raise HTTPException(401, "a valid X-API-Key header is required")
        return matched

    return caller


class MeteredRequests:
    """Counts and times every request by route; refuses a body over `max_bytes` with 413
    while it is read, so a chunked body without a length is bounded too."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, received = time.perf_counter(), 500, 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, f"body over {self.max_bytes} bytes")
            return message

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, limited, observed)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            monitoring.REQUESTS.labels(route, scope["method"], status).inc()
            monitoring.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)


def add_prediction_routes(
    app: FastAPI,
    contract: Contract,
    caller: Any,
    served: Any,
    log: monitoring.PredictionLog | None,
) -> None:
    PredictRequest, BatchRequest = contract.request, contract.batch_request  # noqa: N806
    names, batcher = list(contract.features.model_fields), Batcher()

    async def answer(predictor: Predictor, bodies: list[Any], key_id: str) -> list[dict[str, Any]]:
        answers, rows = await score(batcher, predictor, names, bodies)
        if log is not None:
            log.add(rows)
        logger.info(
            "audit: %s scored %d rows with %s v%s",
            key_id, len(bodies), predictor.model_name, predictor.version,
        )  # fmt: skip
        return answers

    @app.post("/predict", response_model=contract.response, response_model_exclude_none=True,
              responses=ERRORS, summary="Score one instance")  # fmt: skip
    async def predict(
        body: PredictRequest,  # type: ignore[valid-type]
        key_id: Annotated[str, caller],
        predictor: Annotated[Predictor, served],
    ) -> Any:
        (prediction,) = await answer(predictor, [body], key_id)
        return {
            **prediction,
            "model_name": predictor.model_name,
            "model_version": predictor.version,
        }

    @app.post("/predict/batch", response_model=contract.batch_response,
              response_model_exclude_none=True, responses=ERRORS,
              summary="Score a list of instances (at most API__MAX_BATCH_SIZE)")  # fmt: skip
    async def predict_batch(
        body: BatchRequest,  # type: ignore[valid-type]
        key_id: Annotated[str, caller],
        predictor: Annotated[Predictor, served],
    ) -> Any:
        predictions = await answer(predictor, body.instances, key_id)  # type: ignore[attr-defined]
        return {
            "predictions": predictions,
            "model_name": predictor.model_name,
            "model_version": predictor.version,
        }


async def score(
    batcher: Batcher, predictor: Predictor, names: list[str], bodies: list[Any]
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """The answers to validated requests, and their rows for the predictions table."""
    values = [[getattr(body.features, name) for name in names] for body in bodies]
    matrix = np.array(values, dtype=object if predictor.input_categories else float)
    arrays = await batcher.predict(predictor, matrix)
    predictions: list[Any] = arrays.predictions.tolist()
    probabilities: list[Any] = [None] * len(bodies)
    by_class: list[Any] = [None] * len(bodies)
    if arrays.probabilities is not None and arrays.class_probabilities is not None:
        probabilities = arrays.probabilities.tolist()
        classes = [str(name) for name in predictor.classes]
        by_class = [dict(zip(classes, row, strict=True)) for row in arrays.class_probabilities]
    # What the metrics follow, and what must be a finite number: the probability, or the
    # predicted value of a regression (a classifier without probabilities gives classes).
    followed = predictions if arrays.probabilities is None else probabilities
    labels_only = not predictor.is_regression and arrays.probabilities is None
    if not (labels_only or all(math.isfinite(value) for value in followed)):
        raise HTTPException(422, "the model gives no finite answer for values this far out")
    labels = [monitoring.REGRESSION_CLASS] * len(bodies) if predictor.is_regression else predictions
    for label, value in zip(labels, followed, strict=True):
        monitoring.PREDICTIONS.labels(predictor.version, label).inc()
        monitoring.PREDICTION_VALUE.labels(predictor.version).observe(value)
    now, ids = datetime.now(UTC), [uuid.uuid4().hex for _ in bodies]
    answers = [
        {"prediction": p, "probability": q, "probabilities": c, "prediction_id": i}
        for p, q, c, i in zip(predictions, probabilities, by_class, ids, strict=True)
    ]
    rows = [
        (i, body.entity_id, *row, p, q, predictor.model_name, predictor.version, SOURCE_ONLINE,
         now, now.date())
        for i, body, row, p, q in zip(ids, bodies, values, predictions, probabilities, strict=True)
    ]  # fmt: skip
    return answers, rows


def add_operation_routes(
    app: FastAPI, model: ModelWatcher, context: ProjectContext, caller: Any, served: Any
) -> None:
    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", response_model=Ready, response_model_exclude_none=True,
             responses={503: {"description": "No model yet, and why"}},
             summary="Readiness: a model is loaded")  # fmt: skip
    async def ready() -> Any:
        predictor = model.predictor
        if predictor is None:
            return JSONResponse({"detail": f"model not loaded: {model.problem}"}, 503)
        return Ready(
            status="ready",
            model_name=predictor.model_name,
            model_version=predictor.version,
            reload_error=model.problem,
        )

    @app.get("/model", responses=ERRORS, summary="The model served and the features it takes")
    async def describe_model(
        key_id: Annotated[str, caller], predictor: Annotated[Predictor, served]
    ) -> ModelDescription:
        return ModelDescription(
            name=predictor.model_name,
            version=predictor.version,
            alias=predictor.alias,
            run_id=predictor.run_id,
            task=predictor.task,
            source=model.source,
            inputs=context.view.features,
            classes=[str(name) for name in predictor.classes],
            loaded_at=predictor.loaded_at,
        )


def run_server(
    settings: Settings, host: str, port: int, workers: int, prod: bool, reload: bool
) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests and held predictions finish first.
    Production: `workers` processes, no access log (the audit lines say who scored what)."""
    create_app(settings)  # a configuration error stops here, before any worker starts
    workers = workers if prod else 1
    if prod and not settings.api.api_keys:
        if not settings.api.allow_open:
            raise ConfigError(
                "serve-prod refuses to start without API keys: set API__KEYS=key_id:secret"
                "[,...] (docs/serving.md), or API__ALLOW_OPEN=true to serve anyone on purpose"
            )
        logger.warning("serving WITHOUT authentication: API__ALLOW_OPEN=true, API__KEYS empty")
    if workers > 1:  # each worker writes its metrics here; /metrics sums them
        folder = settings.data_dir / "prometheus-multiproc"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        os.environ[monitoring.MULTIPROCESS_DIR_VARIABLE] = str(folder)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["src"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run(
        "src.inference.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        reload_dirs=[str(SOURCE_DIR)] if reload else None,
        log_config=log_config,
        access_log=not prod,
        timeout_graceful_shutdown=int(settings.api.graceful_shutdown_seconds),
        server_header=False,
    )
