"""Running the API under uvicorn: `make serve` (development) and `make serve-prod`.

Production mode runs `API__WORKERS` worker processes with graceful shutdown and a JSON
access log. With more than one worker, Prometheus metrics go through prometheus-client's
multiprocess mode: a folder of per-worker files, emptied here before the workers start,
so `/metrics` on any worker reports the sums over all of them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from src.errors import ConfigError
from src.inference.monitoring import MULTIPROCESS_DIR_VARIABLE, prepare_multiprocess_dir
from src.settings import Settings

logger = logging.getLogger(__name__)

APP_FACTORY = "src.inference.api:create_app"
# Workers read their settings from the environment; this one is how serve-prod asks them
# for the JSON access log (unless API__JSON_ACCESS_LOG says otherwise).
JSON_ACCESS_LOG_VARIABLE = "API__JSON_ACCESS_LOG"
SOURCE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    workers: int
    prod: bool
    reload: bool


def metrics_dir(settings: Settings) -> Path:
    return settings.api.metrics_dir or settings.data_dir / "prometheus-multiproc"


def check_production_auth(settings: Settings) -> str | None:
    """Refuse an open production server unless configured so; returns the warning if open."""
    if settings.api.api_keys:
        return None
    if not settings.api.allow_open:
        raise ConfigError(
            "serve-prod refuses to start without API keys: set API__KEYS=key_id:secret[,...] "
            "(docs/serving.md), or API__ALLOW_OPEN=true to serve anyone on purpose"
        )
    return "serving WITHOUT authentication: API__ALLOW_OPEN=true and API__KEYS is empty"


def run_server(settings: Settings, options: ServerOptions) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests and queued predictions finish first."""
    if options.prod:
        warning = check_production_auth(settings)
        if warning:
            logger.warning(warning)
        os.environ.setdefault(JSON_ACCESS_LOG_VARIABLE, "true")
        if options.workers > 1:
            folder = metrics_dir(settings)
            prepare_multiprocess_dir(folder)
            os.environ[MULTIPROCESS_DIR_VARIABLE] = str(folder)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers if options.prod else None,
        reload=options.reload,
        reload_dirs=[str(SOURCE_DIR)] if options.reload else None,
        access_log=not options.prod,
        timeout_graceful_shutdown=int(settings.api.graceful_shutdown_seconds),
        server_header=False,
    )
