"""Pure ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware).

`RequestObserver` gives each request an id (`X-Request-ID`, kept when the client sends a
sane one), records its metrics, writes the JSON access-log line and, for prediction
routes, the audit line. `BodySizeLimit` answers 413 before a large body is read.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.inference.audit import now_iso
from src.inference.monitoring import record_request
from src.inference.runtime import ServingRuntime
from src.inference.security import UNAUTHENTICATED

REQUEST_ID_HEADER = b"x-request-id"
VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
AUDITED_ROUTES = frozenset({"/predict", "/predict/batch", "/invocations"})
# Request ids: a random prefix per process and a counter. uuid4 reads os.urandom for each
# request, which costs more than a prediction on some kernels.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


# Paths no route matched share one label, so random paths cannot blow up the metrics.
UNMATCHED_ROUTE = "unmatched"


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        presented = header(scope, REQUEST_ID_HEADER)
        valid = presented is not None and VALID_REQUEST_ID.fullmatch(presented)
        request_id = presented.decode() if valid and presented else new_request_id()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            record_request(route, scope["method"], status, seconds)
            runtime: ServingRuntime | None = getattr(scope["app"].state, "runtime", None)
            if runtime is not None:
                self._log(runtime, scope, state, route, status, seconds)

    @staticmethod
    def _log(
        runtime: ServingRuntime,
        scope: Scope,
        state: dict[str, Any],
        route: str,
        status: int,
        seconds: float,
    ) -> None:
        latency_ms = round(seconds * 1000, 3)
        if runtime.access_log is not None:
            client = scope.get("client")
            runtime.access_log.write(
                {
                    "time": now_iso(),
                    "event": "access",
                    "request_id": state["request_id"],
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": latency_ms,
                    "client": client[0] if client else None,
                }
            )
        if route in AUDITED_ROUTES and scope["method"] == "POST":
            runtime.audit.record_event(
                "prediction",
                request_id=state["request_id"],
                caller=state.get("caller", UNAUTHENTICATED),
                route=route,
                model_name=state.get("model_name"),
                model_version=state.get("model_version"),
                rows=state.get("rows"),
                status=status,
                latency_ms=latency_ms,
            )


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def too_large(self) -> HTTPException:
        return HTTPException(
            status_code=413,
            detail=f"request body larger than {self.max_bytes} bytes (API__MAX_BODY_BYTES)",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read: FastAPI answers it as a 413.
                    raise self.too_large()
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send: Send) -> None:
        body = b'{"detail":"' + str(self.too_large().detail).encode() + b'"}'
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
