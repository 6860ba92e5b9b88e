"""`make mlflow-local` in the foreground, `make train-local` through it, and SIGTERM, on
isolated state. What the MLflow UI shows is read back through the server's REST API: the
training run, its trials, the pictures (uploaded through the server), the version and aliases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from src.context import ProjectContext
from src.model.mlflow_manager import PRODUCTION_ALIAS, STAGING_ALIAS
from tests.conftest import (
    PROJECT_ROOT,
    build_sample_lake,
    free_port,
    isolated_env,
    isolated_settings,
    make,
)

pytestmark = pytest.mark.e2e

TRIALS = 2


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def test_mlflow_local_serves_training_and_stops_on_sigterm(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    build_sample_lake(ProjectContext(settings))
    port = free_port()
    env = {
        **isolated_env(tmp_path),
        "MLFLOW_BACKEND_STORE_URI": settings.resolved_tracking_uri,
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "served-artifacts"),
    }
    server = subprocess.Popen(
        ["make", "--no-print-directory", "mlflow-local", f"MLFLOW_PORT={port}"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # a group of its own, as a terminal gives a foreground job
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not answers(url):
            assert server.poll() is None, "make mlflow-local exited"
            assert time.monotonic() < deadline, "make mlflow-local did not answer within 120 s"
            time.sleep(0.5)
        # No artifact root of its own: the server's (mlflow-artifacts:/), so the client uploads
        # artifacts through the server, as to a remote one.
        client_env = {k: v for k, v in env.items() if k != "MLFLOW_ARTIFACT_ROOT"}
        client_env["MLFLOW_TRACKING_URI"] = url
        trained = make("train-local", client_env, f"TRIALS={TRIALS}")
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert "v1: production" in trained.stdout.strip().splitlines()[-1]

        # Both URIs explicitly: MLflow's process-wide registry URI may name another store.
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        experiment = client.get_experiment_by_name(settings.mlflow_experiment_name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
        assert len(runs) == 1 + TRIALS
        uploaded = {path.name for path in (tmp_path / "served-artifacts").rglob("*.png")}
        assert {"feature_importance.png", "optimization_history.png"} <= uploaded
        # The endpoint the UI shows pictures from.
        picture = f"{url}/get-artifact?path=plots/optimization_history.png&run_uuid="
        with urllib.request.urlopen(picture + parent.info.run_id, timeout=30) as answer:  # noqa: S310
            assert answer.read(4) == b"\x89PNG"
        model = client.get_registered_model(settings.model_name)
        assert model.aliases == {PRODUCTION_ALIAS: "1", STAGING_ALIAS: "1"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    deadline = time.monotonic() + 30
    while answers(url):
        assert time.monotonic() < deadline, "the server still answers 30 s after SIGTERM"
        time.sleep(0.2)
