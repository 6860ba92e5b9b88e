"""What every route checks before it works: the runtime, the caller and the served model.

Routes call these directly instead of declaring FastAPI dependencies: solving a
dependency graph costs tens of microseconds per node and request, more than the model
call of a small model. The OpenAPI schema still documents the body and the key header
(see `document_api` in src/inference/api.py).
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from src.inference.model_state import ServedModel
from src.inference.runtime import ServingRuntime
from src.inference.security import API_KEY_HEADER

BodyT = TypeVar("BodyT", bound=BaseModel)

# Routes that call `authenticate`; the OpenAPI schema marks them when keys are configured.
PROTECTED_ROUTES = ("/predict", "/predict/batch", "/invocations", "/model")


def runtime_of(request: Request) -> ServingRuntime:
    runtime: ServingRuntime = request.app.state.runtime
    return runtime


def authenticate(request: Request, runtime: ServingRuntime) -> str:
    """The caller's key id (or "anonymous" when no keys are configured); 401 otherwise."""
    caller = runtime.authenticator.identify(request.headers.get(API_KEY_HEADER))
    if caller is None:
        raise HTTPException(
            status_code=401,
            detail=f"missing or invalid API key: send it in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    request.state.caller = caller
    return caller


def served_model(runtime: ServingRuntime) -> ServedModel:
    served = runtime.state.served
    if served is None:
        raise HTTPException(status_code=503, detail=f"model not loaded: {runtime.state.error}")
    return served


def parse_body(model: type[BodyT], body: bytes) -> BodyT:
    """The JSON body validated by pydantic-core in one pass; 422 naming each problem."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = [
            {"type": item["type"], "loc": ["body", *item["loc"]], "msg": item["msg"]}
            for item in error.errors(include_input=False, include_url=False)
        ]
        raise RequestValidationError(problems) from None
