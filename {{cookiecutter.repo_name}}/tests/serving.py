"""Helpers of the serving tests: the API on a trained project, in-process or as the real
`python -m src serve` process, and polling with deadlines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import requests
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from src.context import ProjectContext
from src.settings import ApiSettings, Settings
from tests.conftest import PROJECT_ROOT, free_port


def serving_settings(context: ProjectContext, **api: Any) -> Settings:
    """`context`'s settings with these API settings; no prediction log unless asked."""
    values = {"prediction_log_enabled": False, **api}
    return context.settings.model_copy(update={"api": ApiSettings(**values)})


def sample_rows(context: ProjectContext, count: int) -> list[dict[str, Any]]:
    """Rows of the feature store, the model's features only (missing values as None)."""
    frame = context.lake.read(context.view.table).to_pandas().head(count)
    features = frame[context.view.feature_names].astype(object)
    return cast(list[dict[str, Any]], features.where(features.notna(), None).to_dict("records"))


def wait_for(condition: Callable[[], Any], timeout: float = 120, what: str = "condition") -> Any:
    """`condition()`'s first value other than None and False, polled until `timeout` seconds
    have passed (a 503 response is a value: requests' responses are falsy then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (requests.RequestException, OSError):
            value = None
        if value is not None and value is not False:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout:.0f} s")


def wait_until_ready(client: TestClient | str, timeout: float = 180) -> None:
    """Until /ready answers 200: a busy machine takes a while to import and load."""
    if isinstance(client, TestClient):
        wait_for(lambda: client.get("/ready").status_code == 200, timeout, what="/ready")
    else:
        ready = f"{client}/ready"
        wait_for(lambda: requests.get(ready, timeout=5).status_code == 200, timeout, what="/ready")


@contextmanager
def running_server(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port by default) in a thread."""
    server = uvicorn.Server(uvicorn.Config(app, port=port or free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), what="the test server")
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> float:
        """SIGTERM, then the seconds the process took to exit (a single process re-raises
        the signal once shut down, as uvicorn does: its exit code is then -15)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return time.monotonic() - started


@contextmanager
def serve_process(env: dict[str, str], log: Path, *options: str) -> Iterator[ServeProcess]:
    """`python -m src serve` on a free port, its output in `log`; killed with its workers if
    still running at the end."""
    port = free_port()
    command = [sys.executable, "-m", "src", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *options], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield ServeProcess(process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
