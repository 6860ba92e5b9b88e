"""The online prediction API: an app factory whose lifespan loads and watches the model.

Routes: POST /predict (the seed's body), POST /predict/batch, POST /invocations (MLflow's
scoring format), GET /health, GET /ready, GET /model, GET /metrics. `make serve` and
`make serve-prod` run it through `python -m src serve` (see src/inference/server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema

from src.context import ProjectContext, build_context
from src.inference.audit import AuditLog, JsonLinesLog
from src.inference.engine import EngineClosed, NonFinitePrediction, ScoringEngine
from src.inference.guards import PROTECTED_ROUTES
from src.inference.inputs import InvalidInput
from src.inference.middleware import BodySizeLimit, RequestObserver
from src.inference.model_state import ModelSource, ModelState, ModelWatcher, RegistryModelSource
from src.inference.monitoring import mark_worker_stopped
from src.inference.prediction_log import LakeWriter, PredictionLog, ProcessWriter
from src.inference.routers import operations, predictions
from src.inference.runtime import ServingRuntime
from src.inference.security import API_KEY_HEADER, ApiKeyAuthenticator
from src.settings import ApiSettings

logger = logging.getLogger(__name__)


@dataclass
class ServingSetup:
    """What the app is built from; `build_serving_setup` makes it from the project settings."""

    settings: ApiSettings
    source: ModelSource
    prediction_log: PredictionLog | None = None


def build_serving_setup(context: ProjectContext) -> ServingSetup:
    settings = context.settings.api
    # A staging deployment serves the candidate it smoke-tests (API__MODEL_ALIAS=staging).
    source = RegistryModelSource(context.mlflow, context.settings.model_name, settings.model_alias)
    prediction_log = None
    if settings.prediction_log_enabled:
        prediction_log = PredictionLog(
            ProcessWriter(LakeWriter(context.settings, context.view)),
            flush_seconds=settings.prediction_log_flush_seconds,
            flush_rows=settings.prediction_log_flush_rows,
            max_rows=settings.prediction_log_max_rows,
        )
    return ServingSetup(settings, source, prediction_log)


def create_app(setup: ServingSetup | None = None) -> FastAPI:
    """Build the app; without a setup it serves `models:/<model_name>@<API__MODEL_ALIAS>`."""
    setup = setup or build_serving_setup(build_context())
    settings = setup.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(setup)
        app.state.runtime = runtime
        watcher = ModelWatcher(setup.source, runtime.state, runtime.audit)
        await watcher.refresh()
        # Everything loaded so far (libraries, the model) lives as long as the process: keep
        # it out of the garbage collector, whose full passes over it stalled requests for
        # hundreds of milliseconds (docs/serving.md). Collect first: garbage frozen stays.
        gc.collect()
        gc.freeze()
        watching = asyncio.create_task(watcher.run(settings.reload_interval_seconds))
        try:
            yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await stop_runtime(runtime, setup.prediction_log)

    app = FastAPI(
        title="{{ cookiecutter.project_name }} prediction API",
        description="Serves the production model of the MLflow registry; see docs/serving.md.",
        lifespan=lifespan,
    )
    app.include_router(predictions.router)
    app.include_router(operations.router)
    add_error_handlers(app)
    document_api(app, auth_enabled=bool(settings.api_keys))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestObserver)
    return app


def document_api(app: FastAPI, auth_enabled: bool) -> None:
    """Complete the OpenAPI schema with what the routes check themselves.

    The prediction routes parse their bodies directly (see src/inference/guards.py), so
    their request schemas are added here; the key header is declared only when keys are
    configured, so the schema never promises a check the server does not make.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, definitions = models_json_schema(
            [(model, "validation") for model in predictions.REQUEST_MODELS],
            ref_template="#/components/schemas/{model}",
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {}).update(definitions.get("$defs", {}))
        if auth_enabled:
            components["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
            }
            for path in PROTECTED_ROUTES:
                for operation in schema["paths"][path].values():
                    operation["security"] = [{"ApiKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def start_runtime(setup: ServingSetup) -> ServingRuntime:
    settings = setup.settings
    audit = AuditLog(settings.audit_log)
    audit.start()
    access_log = JsonLinesLog(settings.access_log) if settings.json_access_log else None
    if access_log is not None:
        access_log.start()
    if setup.prediction_log is not None:
        setup.prediction_log.start()
    on_scored = setup.prediction_log.submit if setup.prediction_log is not None else None
    engine = ScoringEngine(settings.micro_batch_rows, on_scored)
    engine.start()
    return ServingRuntime(
        settings=settings,
        state=ModelState(),
        engine=engine,
        audit=audit,
        authenticator=ApiKeyAuthenticator(settings.api_keys),
        source=setup.source.description,
        access_log=access_log,
    )


async def stop_runtime(runtime: ServingRuntime, prediction_log: PredictionLog | None) -> None:
    """Stop scoring, write every queued prediction, then close the logs."""
    runtime.engine.close()
    if runtime.state.served is not None:
        runtime.state.served.metrics.publish()
    if prediction_log is not None:
        await asyncio.to_thread(prediction_log.close)
    if runtime.access_log is not None:
        runtime.access_log.close()
    runtime.audit.close()
    mark_worker_stopped()


def add_error_handlers(app: FastAPI) -> None:
    """Every error answers with a JSON `detail` naming the problem, never a stack trace."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # Echoing the input back could hold NaN, which JSON cannot carry; the location and
        # message name the problem on their own.
        detail = [
            {"type": item["type"], "loc": list(item["loc"]), "msg": item["msg"]}
            for item in error.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, error: InvalidInput) -> JSONResponse:
        detail = [problem.as_error() for problem in error.problems]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(NonFinitePrediction)
    async def non_finite(request: Request, error: NonFinitePrediction) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    @app.exception_handler(EngineClosed)
    async def closed(request: Request, error: EngineClosed) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": "the server is shutting down"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        logger.error("request %s failed", request_id, exc_info=error)
        return JSONResponse(
            status_code=500,
            content={"detail": f"internal error; the server log has it under {request_id}"},
        )
