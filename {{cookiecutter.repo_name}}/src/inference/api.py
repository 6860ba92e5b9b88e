"""The prediction API (FastAPI), its bodies built from config/features.yaml, and the server
that runs it (`python -m src serve`). See docs/serving.md."""

import copy
import gc
import hmac
import logging
import math
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import AfterValidator, BaseModel, Field, SecretStr, create_model, model_validator
from pydantic_core import PydanticCustomError
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.context import ProjectContext
from src.data.feature_store import Column, FeatureView
from src.data.predictions import SOURCE_ONLINE, append_prediction_table, predictions_schema
from src.errors import ConfigError, ModelNotFoundError, ProjectError
from src.inference import monitoring
from src.model.predictor import Batcher, Predictor
from src.settings import Settings, get_settings

logger = logging.getLogger(__name__)

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="A key's secret")
RequestId = Annotated[str | None, Header(alias="X-Request-ID", max_length=128)]
# What the prediction log may take at shutdown: with the graceful shutdown of in-flight
# requests (API__GRACEFUL_SHUTDOWN_SECONDS) well under the 10 s a container gets.
SHUTDOWN_FLUSH_SECONDS = 3.0
MAX_ERRORS = 20
SCALAR_TYPES: dict[str, type] = {"float64": float, "int64": int, "string": str, "bool": bool}
MAX_TEXT_LENGTH = 1024


class KnownKeys(BaseModel, extra="forbid"):
    """Unknown keys are refused one error each; past MAX_ERRORS of them the object is refused
    with one error, before each becomes an error (80,000 keys held the event loop 0.7 s)."""

    @model_validator(mode="before")
    @classmethod
    def few_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > len(cls.model_fields) + MAX_ERRORS:
            known = len(cls.model_fields)
            raise PydanticCustomError("too_many_keys", f"{len(data)} keys, {known} known")
        return data


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid X-API-Key"},
    413: {"description": "Body over API__MAX_BODY_BYTES"},
    503: {"description": "No model loaded yet"},
}


def one_of(allowed: list[Any]) -> AfterValidator:
    """The contract's allowed values, refused with the message ingestion's quarantine gives."""
    listed = ", ".join(str(value) for value in allowed)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise PydanticCustomError("not_allowed", f"{value} is not one of [{listed}]")
        return value

    return AfterValidator(check)


def feature_field(column: Column) -> tuple[Any, Any]:
    """A feature's dtype taken strictly (`true` is no number), numbers finite, `values` kept."""
    kind: Any = SCALAR_TYPES[column.dtype]
    constraints: dict[str, Any] = {"strict": True, "description": column.description}
    if kind is float:
        constraints["allow_inf_nan"] = False
    if kind is str:
        constraints["max_length"] = MAX_TEXT_LENGTH
    if column.values is not None:
        kind = Annotated[kind, one_of(column.values)]
        constraints["json_schema_extra"] = {"enum": column.values}
    if column.nullable:
        return kind | None, Field(default=None, **constraints)
    return kind, Field(**constraints)


class Contract:
    """The request and response models of one feature view (typed Any: built at run time)."""

    def __init__(self, view: FeatureView, batch_size: int) -> None:
        fields: dict[str, Any] = {column.name: feature_field(column) for column in view.features}
        self.features: Any = create_model("Features", __base__=KnownKeys, **fields)
        self.request: Any = create_model(
            "PredictRequest",
            __base__=KnownKeys,
            features=(self.features, ...),
            entity_id=(str | None, Field(default=None, max_length=128)),
        )
        request: Any = self.request
        self.batch_request: Any = create_model(
            "BatchPredictRequest",
            __base__=KnownKeys,
            # The first invalid instance ends validation: one record's problems, not all.
            instances=(list[request], Field(min_length=1, max_length=batch_size, fail_fast=True)),
        )
        prediction: Any = create_model(
            "Prediction",
            prediction=(SCALAR_TYPES[view.label.dtype], ...),
            probability=(float | None, Field(default=None, description="Of the class predicted")),
            probabilities=(dict[str, float] | None, None),
            prediction_id=(str, Field(description="The row's id in the predictions table")),
        )
        served: dict[str, Any] = {"model_name": (str, ...), "model_version": (str, ...)}
        self.response: Any = create_model("PredictResponse", __base__=prediction, **served)
        self.batch_response: Any = create_model(
            "BatchPredictResponse", predictions=(list[prediction], ...), **served
        )


class ModelWatcher:
    """Loads `models:/<name>@<alias>` in a thread once the server answers (a registry that
    hangs never holds startup or shutdown), then follows the alias; a failed load keeps the old."""

    def __init__(self, context: ProjectContext, name: str, alias: str) -> None:
        self.context, self.name, self.alias = context, name, alias
        self.source = f"models:/{name}@{alias}"
        self.predictor: Predictor | None = None  # swapped by one assignment, read once
        # Why no model serves yet, or why the last reload failed while an older one serves.
        self.problem: str | None = "loading"
        self.stopped = threading.Event()

    async def current(self) -> Predictor:
        """The model to answer with (a FastAPI dependency; async, so no thread pool)."""
        if (predictor := self.predictor) is None:
            raise HTTPException(503, f"model not loaded: {self.problem}")
        return predictor

    def run(self, interval: float) -> None:
        self.refresh()
        while not self.stopped.wait(interval):
            self.refresh()

    def refresh(self) -> None:
        """Serve the version the alias points at now; any failure keeps the current model."""
        served = self.predictor
        try:
            manager = self.context.mlflow  # built here: MLflow takes seconds to import
            current = manager.get_version(self.name, self.alias)
            if current is None:
                raise ModelNotFoundError(f"{self.source} points at no model version")
            if served is not None and served.version == str(current.version):
                self.problem = None
                return
            predictor = manager.load_version(self.name, current, self.alias)
            if predictor.feature_names != self.context.view.feature_names:
                raise ProjectError(f"v{predictor.version} takes other features than the contract")
        except Exception as error:  # the registry may be down: report, keep serving, retry
            monitoring.MODEL_LOAD_FAILURES.inc()
            logger.warning("loading %s failed", self.source, exc_info=error)
            # A project error is a sentence for the operator; anything else is named only.
            reason = str(error) if isinstance(error, ProjectError) else type(error).__name__
            still = f"; still serving v{served.version}" if served is not None else ""
            self.problem = f"loading {self.source} failed: {reason}{still}"
            return
        self.predictor, self.problem = predictor, None
        monitoring.record_model_served(predictor.model_name, predictor.version, predictor.alias)
        logger.info("serving %s v%s in process %d", self.source, predictor.version, os.getpid())
        # The model and the libraries live as long as the process: out of the collector's
        # reach, full collections stop walking them (they stalled requests for 200+ ms).
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app serving `models:/<MODEL_NAME>@<API__MODEL_ALIAS>` (uvicorn's factory)."""
    settings = settings or get_settings()
    context, api = ProjectContext(settings), settings.api
    # A store the settings cannot locate is a ConfigError now; one that is down is retried.
    uses_catalog = api.prediction_log_enabled and settings.app_env != "aws"  # the SQL catalog
    _ = settings.resolved_tracking_uri, uses_catalog and settings.resolved_catalog_uri
    model = ModelWatcher(context, settings.model_name, api.model_alias)
    log = None
    if api.prediction_log_enabled:  # the lake is built in the log's thread, on first use
        write = lambda table: append_prediction_table(context.lake, context.view, table)  # noqa: E731
        log = monitoring.PredictionLog(write, predictions_schema(context.view), api)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Threads (prediction log, model watcher) hand the interpreter to a waiting request
        # within 0.5 ms instead of 5: p99 under load 11 ms instead of 13-32 (docs/serving.md).
        sys.setswitchinterval(0.0005)
        threading.Thread(target=model.run, args=(api.reload_interval_seconds,), daemon=True).start()
        if log is not None:
            log.thread.start()
        yield
        model.stopped.set()
        if log is not None:
            log.close(SHUTDOWN_FLUSH_SECONDS)

    app = FastAPI(title=f"{settings.model_name} prediction API", lifespan=lifespan)
    # Starlette counts a body while it is read: a chunked one without a length is bounded too.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=api.max_body_bytes)
    app.add_middleware(metered)
    app.add_exception_handler(RequestValidationError, name_invalid_input)
    app.mount("/metrics", monitoring.metrics_app())
    caller, served = Security(check_key(api.api_keys)), Depends(model.current)
    add_prediction_routes(app, Contract(context.view, api.max_batch_size), caller, served, log)
    add_operation_routes(app, model, caller, served)
    return app


async def name_invalid_input(request: Request, error: Exception) -> JSONResponse:
    """422 naming at most MAX_ERRORS problems, not echoing the input (NaN is no JSON)."""
    problems = error.errors() if isinstance(error, RequestValidationError) else []
    detail = [{key: item[key] for key in ("type", "loc", "msg")} for item in problems]
    # Unknown names first: a misspelt feature is the likely cause of the missing ones.
    detail.sort(key=lambda item: item["type"] != "extra_forbidden")
    return JSONResponse({"detail": detail[:MAX_ERRORS]}, 422)


def check_key(keys: dict[str, SecretStr]) -> Callable[..., Awaitable[str]]:
    """The caller's key id; every key is compared in constant time, without an early exit."""
    secrets = [(key_id, secret.get_secret_value().encode()) for key_id, secret in keys.items()]

    async def caller(presented: Annotated[str | None, Security(API_KEY)] = None) -> str:
        if not secrets:
            return "anonymous"
        given = (presented or "").encode()
        matched = [key_id for key_id, secret in secrets if hmac.compare_digest(given, secret)]
        if not matched:
            logger.warning("audit: refused a request without a valid X-API-Key")
            raise HTTPException(401, "a valid X-API-Key header is required")
        return matched[0]

    return caller


def metered(app: ASGIApp) -> ASGIApp:
    """Counts and times every request by route template (pure ASGI: no per-request task)."""

    async def measure(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, observed)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            monitoring.REQUESTS.labels(route, scope["method"], status).inc()
            monitoring.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)

    return measure


def add_prediction_routes(
    app: FastAPI, contract: Contract, caller: Any, served: Any, log: Any
) -> None:
    names, batcher = list(contract.features.model_fields), Batcher()
    shared: Any = {"response_model_exclude_none": True, "responses": ERRORS}

    async def answer(
        predictor: Predictor, bodies: list[Any], key_id: str, request_id: str | None
    ) -> dict[str, Any]:
        answers, rows = await score(batcher, predictor, names, bodies, request_id)
        if log is not None:
            log.add(rows)
        name, version = predictor.model_name, predictor.version
        logger.info("audit: %s scored %d rows with %s v%s", key_id, len(rows), name, version)
        return {"predictions": answers, "model_name": name, "model_version": version}

    @app.post("/predict", response_model=contract.response, summary="Score one instance", **shared)
    async def predict(
        body: contract.request,  # type: ignore[name-defined]
        key_id: Annotated[str, caller],
        predictor: Annotated[Predictor, served],
        request_id: RequestId = None,
    ) -> Any:
        answered = await answer(predictor, [body], key_id, request_id)
        return answered.pop("predictions")[0] | answered

    @app.post("/predict/batch", response_model=contract.batch_response, **shared)
    async def predict_batch(
        body: contract.batch_request,  # type: ignore[name-defined]
        key_id: Annotated[str, caller],
        predictor: Annotated[Predictor, served],
        request_id: RequestId = None,
    ) -> Any:
        return await answer(predictor, body.instances, key_id, request_id)


async def score(
    batcher: Batcher,
    predictor: Predictor,
    names: list[str],
    bodies: list[Any],
    request_id: str | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """The answers to validated requests, and their rows for the predictions table."""
    values = [[getattr(body.features, name) for name in names] for body in bodies]
    matrix = np.array(values, dtype=object if predictor.categorical else float)
    arrays = await batcher.predict(predictor, matrix)
    predictions: list[Any] = arrays.predictions.tolist()
    probabilities: list[Any] = [None] * len(bodies)
    by_class: list[Any] = [None] * len(bodies)
    if arrays.probabilities is not None and arrays.by_class is not None:
        probabilities = arrays.probabilities.tolist()
        by_class = [dict(zip(predictor.classes, row, strict=True)) for row in arrays.by_class]
    labels = [monitoring.REGRESSION_CLASS] * len(bodies) if predictor.is_regression else predictions
    # What the value histogram follows, and must be finite: a regression's value, or the
    # probability of the class predicted (None from a classifier without probabilities).
    followed = predictions if predictor.is_regression else probabilities
    if not all(value is None or math.isfinite(value) for value in followed):
        raise HTTPException(422, "the model gives no finite answer for values this far out")
    for label, value in zip(labels, followed, strict=True):
        monitoring.PREDICTIONS.labels(predictor.version, label).inc()
        if value is not None:
            monitoring.PREDICTION_VALUE.labels(predictor.version).observe(value)
    now, ids = datetime.now(UTC), [uuid.uuid4().hex for _ in bodies]
    answers = [
        {"prediction": p, "probability": q, "probabilities": c, "prediction_id": i}
        for p, q, c, i in zip(predictions, probabilities, by_class, ids, strict=True)
    ]
    served = (predictor.model_name, predictor.version, SOURCE_ONLINE, now, now.date())
    rows = [
        (i, request_id, body.entity_id, *row, p, q, *served)
        for i, body, row, p, q in zip(ids, bodies, values, predictions, probabilities, strict=True)
    ]
    return answers, rows


def add_operation_routes(app: FastAPI, model: ModelWatcher, caller: Any, served: Any) -> None:
    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", responses={503: ERRORS[503]}, summary="Readiness: a model is loaded")
    async def ready(predictor: Annotated[Predictor, served]) -> dict[str, str]:
        reload_error = {"reload_error": model.problem} if model.problem else {}
        current = {"model_name": predictor.model_name, "model_version": predictor.version}
        return {"status": "ready", **current, **reload_error}

    @app.get("/model", responses=ERRORS, summary="The model served and the features it takes")
    async def describe_model(
        key_id: Annotated[str, caller], predictor: Annotated[Predictor, served]
    ) -> dict[str, Any]:
        fields = ("model_name", "version", "alias", "run_id", "task", "classes", "loaded_at")
        described = {field: getattr(predictor, field) for field in fields}
        return {"source": model.source, "inputs": model.context.view.features, **described}


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
        reload_dirs=[str(Path(__file__).resolve().parents[1])] if reload else None,
        log_config=log_config,
        access_log=not prod,
        timeout_graceful_shutdown=int(settings.api.graceful_shutdown_seconds),
        server_header=False,
    )
