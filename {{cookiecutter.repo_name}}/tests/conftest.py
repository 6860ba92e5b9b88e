"""Shared fixtures: every test runs against its own lake, MLflow store and reports folder.

Nothing here touches the project's own data/, mlflow.db or .env.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from src.context import ProjectContext
from src.settings import Settings

# A fixed end date keeps the sample data, and so every metric, identical between runs.
SAMPLE_END = date(2025, 1, 31)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def isolated_settings(root: Path, **overrides: Any) -> Settings:
    """Settings whose state lives under `root`, ignoring the project's .env file."""
    values: dict[str, Any] = {
        "app_env": "local",
        "data_dir": root / "data",
        "reports_dir": root / "reports",
        "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "mlflow_artifact_root": (root / "mlartifacts").as_uri(),
        **overrides,
    }
    return Settings(_env_file=None, **values)


def isolated_env(root: Path) -> dict[str, str]:
    """Environment variables that point a subprocess (make, the CLI) at `root`."""
    return {
        **os.environ,
        "APP_ENV": "local",
        "DATA_DIR": str(root / "data"),
        "REPORTS_DIR": str(root / "reports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": (root / "mlartifacts").as_uri(),
    }


@pytest.fixture
def context(tmp_path: Path) -> ProjectContext:
    return ProjectContext(isolated_settings(tmp_path))


@pytest.fixture
def lake_context(context: ProjectContext) -> ProjectContext:
    """A context whose lake holds the sample data through gold."""
    build_sample_lake(context)
    return context


@pytest.fixture(scope="session")
def trained_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectContext]:
    """One sample lake with a model in production, shared by tests that only read them."""
    from src.pipelines.DS.training_pipeline.pipeline import run_training_pipeline

    context = ProjectContext(isolated_settings(tmp_path_factory.mktemp("trained")))
    build_sample_lake(context)
    run_training_pipeline(
        context.lake, context.view, context.training, context.mlflow, context.settings.model_name
    )
    yield context


def build_sample_lake(context: ProjectContext) -> None:
    from src.data.intervals import DataInterval
    from src.data.sample_data import SAMPLE_DAYS, land_sample_files
    from src.pipelines.DE.pipeline import run_data_pipeline

    raw_prefix = context.settings.aws.s3.raw_prefix
    land_sample_files(context.store, context.view, raw_prefix, SAMPLE_END)
    interval = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)
    run_data_pipeline(
        context.lake, context.store, context.view, raw_prefix, interval, quality=context.quality
    )
