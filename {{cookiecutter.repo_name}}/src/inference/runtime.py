"""What the routes share while the app runs: built by the lifespan, kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from src.inference.audit import AuditLog, JsonLinesLog
from src.inference.engine import ScoringEngine
from src.inference.model_state import ModelState
from src.inference.security import ApiKeyAuthenticator
from src.settings import ApiSettings


@dataclass
class ServingRuntime:
    settings: ApiSettings
    state: ModelState
    engine: ScoringEngine
    audit: AuditLog
    authenticator: ApiKeyAuthenticator
    source: str
    access_log: JsonLinesLog | None = None
