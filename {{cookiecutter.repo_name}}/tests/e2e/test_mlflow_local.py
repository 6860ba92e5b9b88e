"""`make mlflow-local`, `make train-local` through it, and `make mlflow-down`, on isolated state.

What the MLflow UI shows is read back through the server's REST API: the training run, its
trial runs, the pictures, the registered version and its aliases.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from src.context import ProjectContext
from src.model.mlflow_manager import PRODUCTION_ALIAS, STAGING_ALIAS
from src.model.tracking_server import is_healthy
from tests.conftest import build_sample_lake, free_port, isolated_env, isolated_settings, make

pytestmark = pytest.mark.e2e

TRIALS = 2


def test_mlflow_local_serves_training_until_mlflow_down(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    build_sample_lake(ProjectContext(settings))
    env = isolated_env(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = make("mlflow-local", env, f"MLFLOW_PORT={port}")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"MLflow server on {url}" in started.stdout
        assert is_healthy(url)

        trained = make("train-local", {**env, "MLFLOW_TRACKING_URI": url}, f"TRIALS={TRIALS}")
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert "v1: production" in trained.stdout.strip().splitlines()[-1]
        # Outside a terminal the progress over trials is one line per trial.
        assert f"trial {TRIALS}/{TRIALS} complete" in trained.stdout
        assert "decision" in trained.stdout and "candidate v1" in trained.stdout

        # Both URIs explicitly: MLflow's process-wide registry URI may name another store.
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        experiment = client.get_experiment_by_name(settings.mlflow_experiment_name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
        assert len(parents) == 1 and len(runs) == 1 + TRIALS
        pictures = client.list_artifacts(parents[0].info.run_id, "plots")
        assert {"plots/feature_importance.png", "plots/optimization_history.png"} <= {
            item.path for item in pictures
        }
        # The endpoint the UI shows pictures from.
        picture = f"{url}/get-artifact?path=plots/optimization_history.png&run_uuid="
        with urllib.request.urlopen(picture + parents[0].info.run_id, timeout=30) as answer:  # noqa: S310
            assert answer.read(4) == b"\x89PNG"
        model = client.get_registered_model(settings.model_name)
        assert model.aliases == {PRODUCTION_ALIAS: "1", STAGING_ALIAS: "1"}
    finally:
        stopped = make("mlflow-down", env)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the MLflow server on {url}" in stopped.stdout
    assert not is_healthy(url)
