"""`python -m src serve` never hangs on its side channels: a configuration error stops it at
once, a registry or catalog that is down leaves it answering, the prediction log keeps its
rows until the lake is back, and SIGTERM stops it within 10 s whatever it is doing."""

import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from src.context import ProjectContext
from src.data.predictions import (
    PREDICTION_ID,
    REQUEST_ID,
    SOURCE,
    SOURCE_ONLINE,
    read_prediction_window,
)
from tests.conftest import PROJECT_ROOT, free_port, isolated_env, isolated_settings
from tests.serving import sample_rows, serve_process, wait_for, wait_until_ready

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"APP_ENV": "compose", "CATALOG_URI": ""}, "CATALOG_URI must be set when APP_ENV=compose"),
        ({"API__KEYS": "no-secret-here"}, "entry 1 is not of the form key_id:secret"),
    ],
)
def test_a_configuration_error_stops_serve_at_once_with_one_line(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    started = time.monotonic()
    command = [sys.executable, "-m", "src", "serve", "--port", str(free_port())]
    env = isolated_env(tmp_path) | variables
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert last.startswith("error: ") and message in last
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60  # imports only: nothing waited for a store


@pytest.mark.parametrize("registry", ["hanging", "refusing"])
def test_a_registry_that_is_down_leaves_health_answering_and_sigterm_stops_it(
    tmp_path: Path, registry: str
) -> None:
    with socket.socket() as listener:  # accepts connections and never answers, or is closed
        listener.bind(("127.0.0.1", free_port()))
        if registry == "hanging":
            listener.listen(16)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        env = {**isolated_env(tmp_path), "MLFLOW_TRACKING_URI": url}
        env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        with serve_process(env, tmp_path / "log") as server:
            wait_for(lambda: requests.get(f"{server.url}/health", timeout=2).ok, what="/health")
            if registry == "refusing":
                wait_for(lambda: "failed" in requests.get(f"{server.url}/ready", timeout=2).text)
            ready = requests.get(f"{server.url}/ready", timeout=2)
            answer = requests.post(f"{server.url}/predict", json={"features": {}}, timeout=2)
            seconds = server.stop()
    reason = "loading" if registry == "hanging" else r"loading models:/\w+@production failed: \w+"
    assert ready.status_code == answer.status_code == 503
    assert re.fullmatch(f"model not loaded: {reason}", ready.json()["detail"])
    assert url not in ready.text  # details go to the log only
    assert seconds < 10  # a hanging load included
    assert "Application shutdown complete" in server.log.read_text()


def test_sigterm_stops_the_server_with_the_log_full_and_the_catalog_down(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    env = {
        **isolated_env(trained_context.settings.data_dir.parent),
        "DATA_DIR": str(tmp_path / "data"),
        "CATALOG_URI": f"sqlite:///{tmp_path}/missing/catalog.db",
        "API__PREDICTION_LOG_MAX_ROWS": "3",
    }
    body = {"features": sample_rows(trained_context, 1)[0]}
    with serve_process(env, tmp_path / "serve.log") as server:
        wait_until_ready(server.url)
        answers = [requests.post(f"{server.url}/predict", json=body, timeout=5) for _ in range(5)]
        metrics = requests.get(f"{server.url}/metrics", timeout=2).text
        seconds = server.stop()
    assert [answer.status_code for answer in answers] == [200] * 5
    assert "prediction_log_rows_dropped_total 2.0" in metrics
    assert seconds < 10
    assert "3 predictions were not written to the lake" in server.log.read_text()


def test_sigkill_loses_only_the_predictions_answered_since_the_last_append(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    """An append once 4 rows wait (the timer never fires): 4 predictions, their append, 3
    more, SIGKILL. The table holds the first 4, each once; the 3 held in memory are lost."""
    log = {"API__PREDICTION_LOG_FLUSH_ROWS": "4", "API__PREDICTION_LOG_FLUSH_SECONDS": "3600"}
    env = isolated_env(trained_context.settings.data_dir.parent) | log
    env["DATA_DIR"] = str(tmp_path / "data")
    body = {"features": sample_rows(trained_context, 1)[0]}
    with serve_process(env, tmp_path / "serve.log") as server:
        wait_until_ready(server.url)
        chosen = {"X-Request-ID": "client-7"}  # kept in its own column, never an id
        post = partial(requests.post, f"{server.url}/predict", json=body, headers=chosen, timeout=5)
        written = [post().json()["prediction_id"] for _ in range(4)]
        appended = "prediction_log_rows_written_total 4.0"
        wait_for(lambda: appended in requests.get(f"{server.url}/metrics", timeout=2).text, 30)
        assert all(post().ok for _ in range(3))
        server.process.kill()
    lake = ProjectContext(isolated_settings(tmp_path)).lake
    logged = read_prediction_window(lake, datetime.now(UTC).date(), 2)
    assert sorted(logged[PREDICTION_ID]) == sorted(written)  # each once, none of the last 3
    assert set(logged[REQUEST_ID]) == {"client-7"}


def every_worker_serves(log: str, workers: int) -> bool:
    """Each live worker has loaded its model (uvicorn restarts one that misses a health check)."""
    started = set(re.findall(r"Started server process \[(\d+)\]", log))
    live = started - set(re.findall(r"Child process \[(\d+)\] died", log))
    return len(live) == workers and live <= set(re.findall(r" in process (\d+)", log))


@pytest.mark.e2e
def test_two_workers_keep_their_rows_until_a_fresh_catalog_is_up(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    """serve-prod, two workers, a catalog missing at start then created empty: every row
    lands once, without a race between the workers; metrics are summed over them."""
    catalog = tmp_path / "catalog"
    root = trained_context.settings.data_dir.parent
    env = {
        **isolated_env(root),
        "DATA_DIR": str(tmp_path / "data"),
        "CATALOG_URI": f"sqlite:///{catalog}/catalog.db",
        "API__ALLOW_OPEN": "true",
        "API__PREDICTION_LOG_FLUSH_SECONDS": "0.2",
    }
    rows = sample_rows(trained_context, 4)
    with serve_process(env, tmp_path / "serve.log", "--prod", "--workers", "2") as server:
        wait_for(lambda: every_worker_serves(server.log.read_text(), 2), 180, "workers serving")
        answers = [
            requests.post(f"{server.url}/predict", json={"features": rows[i % 4]}, timeout=10)
            for i in range(40)  # fresh connections spread over both workers
        ]
        wait_for(lambda: "retrying later" in server.log.read_text(), what="a failed write")
        catalog.mkdir()
        written = "prediction_log_rows_written_total 40.0"
        wait_for(lambda: written in requests.get(f"{server.url}/metrics", timeout=2).text)
        metrics = requests.get(f"{server.url}/metrics", timeout=2).text
        seconds = server.stop()
    assert [answer.status_code for answer in answers] == [200] * 40
    # Each worker counts its own; /metrics sums them from the multiprocess folder.
    assert 'api_requests_total{method="POST",route="/predict",status="200"} 40.0' in metrics
    assert server.process.returncode == 0
    assert seconds < 10
    assert "serving WITHOUT authentication" in server.log.read_text()  # open, and says so
    settings = isolated_settings(root, data_dir=tmp_path / "data", catalog_uri=env["CATALOG_URI"])
    logged = read_prediction_window(ProjectContext(settings).lake, datetime.now(UTC).date(), 2)
    assert sorted(logged[PREDICTION_ID]) == sorted(a.json()["prediction_id"] for a in answers)
    assert set(logged[SOURCE]) == {SOURCE_ONLINE}
    first = trained_context.view.feature_names[0]
    sent = [rows[i % 4][first] for i in range(40)]
    assert _tally(logged[first]) == _tally(sent)  # a missing value is logged as missing


def _tally(values: Iterable[Any]) -> Counter[Any]:
    """How often each value occurs, any kind of missing counted as None."""
    return Counter(None if pd.isna(value) else value for value in values)
