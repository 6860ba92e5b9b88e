"""Helpers of the serving tests: the API in-process or as `python -m src serve`, and polling
with deadlines."""

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


def wait_until_ready(url: str, timeout: float = 180) -> None:
    """Until /ready answers 200: a busy machine takes a while to import and load."""
    wait_for(lambda: requests.get(f"{url}/ready", timeout=5).status_code == 200, timeout, "/ready")


@contextmanager
def running_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port in a thread; yields its URL once ready."""
    server = uvicorn.Server(uvicorn.Config(app, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), what="the test server")
    url = f"http://127.0.0.1:{server.config.port}"
    try:
        wait_until_ready(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> float:
        """SIGTERM, then the seconds the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return time.monotonic() - started


@contextmanager
def serve_process(env: dict[str, str], log: Path, *options: str) -> Iterator[ServeProcess]:
    """`python -m src serve` on a free port, output in `log`; killed with its workers at the end."""
    port = free_port()
    command = [sys.executable, "-m", "src", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *options],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        yield ServeProcess(process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
