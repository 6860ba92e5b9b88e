"""`python -m src serve` never hangs on its side channels: a configuration error stops it at
once, a registry or catalog that is down leaves it answering, and SIGTERM stops it within
10 s whatever it is doing (docs/serving.md)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from src.context import ProjectContext
from src.data.predictions import PREDICTION_ID, read_prediction_window
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
    result = subprocess.run(
        [sys.executable, "-m", "src", "serve", "--port", str(free_port())],
        cwd=PROJECT_ROOT, env={**isolated_env(tmp_path), **variables},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60  # imports only: nothing waited for a store


def test_a_hanging_registry_leaves_health_answering_and_sigterm_stops_it(tmp_path: Path) -> None:
    with socket.socket() as registry:  # accepts connections, never answers
        registry.bind(("127.0.0.1", free_port()))
        registry.listen(16)
        env = {
            **isolated_env(tmp_path),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{registry.getsockname()[1]}",
        }
        with serve_process(env, tmp_path / "serve.log") as server:
            wait_for(lambda: requests.get(f"{server.url}/health", timeout=2).ok, what="/health")
            ready = requests.get(f"{server.url}/ready", timeout=2)
            assert ready.status_code == 503
            assert ready.json()["detail"] == "model not loaded: loading"
            assert server.stop() < 10  # the model load is still waiting for the registry
    assert "Application shutdown complete" in server.log.read_text()  # not killed: stopped


def test_an_unreachable_registry_is_the_reason_ready_gives(tmp_path: Path) -> None:
    env = {
        **isolated_env(tmp_path),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    with serve_process(env, tmp_path / "serve.log") as server:
        ready = wait_for(
            lambda: "failed" in (r := requests.get(f"{server.url}/ready", timeout=2)).text and r,
            what="a failed load in /ready",
        )
        assert ready.status_code == 503
        assert re.fullmatch(r"model not loaded: loading models:/\w+@production failed: \w+",
                            ready.json()["detail"])  # fmt: skip
        assert env["MLFLOW_TRACKING_URI"] not in ready.text  # details go to the log only
        assert server.stop() < 10


def test_a_catalog_that_is_down_delays_the_log_without_losing_rows(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    catalog_dir = tmp_path / "catalog"  # missing: SQLite cannot open the catalog yet
    root = trained_context.settings.data_dir.parent
    env = {
        **isolated_env(root),
        "DATA_DIR": str(tmp_path / "data"),
        "CATALOG_URI": f"sqlite:///{catalog_dir}/catalog.db",
        "API__PREDICTION_LOG_FLUSH_SECONDS": "0.2",
    }
    body = {"features": sample_rows(trained_context, 1)[0]}
    with serve_process(env, tmp_path / "serve.log") as server:
        wait_until_ready(server.url)
        ids = {requests.post(f"{server.url}/predict", json=body, timeout=5).json()["prediction_id"]
               for _ in range(5)}  # fmt: skip
        wait_for(lambda: "retrying later" in server.log.read_text(), what="a failed write")
        catalog_dir.mkdir()
        wait_for(
            lambda: (
                "prediction_log_rows_written_total 5.0"
                in requests.get(f"{server.url}/metrics", timeout=2).text
            ),
            what="the rows written",
        )
        assert server.stop() < 10
    settings = isolated_settings(root, data_dir=tmp_path / "data", catalog_uri=env["CATALOG_URI"])
    logged = read_prediction_window(ProjectContext(settings).lake, datetime.now(UTC).date(), 2)
    assert set(logged[PREDICTION_ID]) == ids


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
        assert [answer.status_code for answer in answers] == [200] * 5
        metrics = requests.get(f"{server.url}/metrics", timeout=2).text
        assert "prediction_log_rows_dropped_total 2.0" in metrics
        assert server.stop() < 10
    assert "Application shutdown complete" in server.log.read_text()  # not killed: stopped
    assert "3 predictions were not written to the lake" in server.log.read_text()
