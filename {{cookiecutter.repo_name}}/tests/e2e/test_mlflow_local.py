"""`make mlflow-local` in the foreground on isolated state, `make train-local` through it (read
back over the REST API, as the UI shows it), and the server gone after SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from src.context import ProjectContext
from tests.conftest import (
    PROJECT_ROOT,
    answers,
    build_sample_lake,
    free_port,
    isolated_env,
    isolated_settings,
    make,
)

pytestmark = pytest.mark.e2e


def test_mlflow_local_serves_training_and_stops_on_sigterm(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    build_sample_lake(ProjectContext(settings))
    # No artifact root of the client's own: the server's (mlflow-artifacts:/), so artifacts
    # are uploaded through the server, as to a remote one.
    env = {k: v for k, v in isolated_env(tmp_path).items() if k != "MLFLOW_ARTIFACT_ROOT"}
    env["MLFLOW_BACKEND_STORE_URI"] = settings.resolved_tracking_uri
    env["MLFLOW_ARTIFACTS_DESTINATION"] = str(tmp_path / "served")
    port = free_port()
    server = subprocess.Popen(
        ["make", "--no-print-directory", "mlflow-local", f"MLFLOW_PORT={port}"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # a group of its own, as a terminal gives a foreground job
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not answers(f"{url}/health"):
            assert server.poll() is None and time.monotonic() < deadline, "mlflow-local: no answer"
            time.sleep(0.5)
        trained = make("train-local", {**env, "MLFLOW_TRACKING_URI": url}, "TRIALS=2")
        assert "v1: production" in trained.stdout.strip().splitlines()[-1], trained.stderr

        client = MlflowClient(tracking_uri=url, registry_uri=url)
        experiment = client.get_experiment_by_name(settings.mlflow_experiment_name)
        assert experiment is not None
        assert len(client.search_runs([experiment.experiment_id])) == 1 + 2  # parent, trials
        pictures = {path.name for path in (tmp_path / "served").rglob("*.png")}
        assert {"feature_importance.png", "optimization_history.png"} <= pictures
        model = client.get_registered_model(settings.model_name)
        assert model.aliases == {"production": "1", "staging": "1"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    deadline = time.monotonic() + 30
    while answers(f"{url}/health"):
        assert time.monotonic() < deadline, "the server still answers 30 s after SIGTERM"
        time.sleep(0.2)
