"""Secure defaults: no open production server by accident, tables of this project only,
staging apart from production, and MLflow's client credentials never in the way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from src.context import ProjectContext
from src.names import (
    OWNER_PROPERTY,
    PREDICTIONS_TABLE,
    PROJECT,
    bronze_table,
    environment_database,
    table_name_pattern,
)
from tests.conftest import PROJECT_ROOT, isolated_env, isolated_settings

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([pa.field("id", pa.string())])


def test_serve_prod_without_keys_exits_non_zero_naming_the_settings(tmp_path: Path) -> None:
    env = {**isolated_env(tmp_path), "API__KEYS": "", "API__ALLOW_OPEN": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "src", "serve", "--prod", "--port", "29501"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "serve-prod refuses to start without API keys" in result.stderr
    assert "API__KEYS" in result.stderr
    assert "API__ALLOW_OPEN=true" in result.stderr


def test_tables_carry_the_project_prefix(context: ProjectContext) -> None:
    assert bronze_table("sales") == f"{PROJECT}_bronze_sales"
    assert PREDICTIONS_TABLE.startswith(f"{PROJECT}_monitoring_")
    assert table_name_pattern() == f"{PROJECT}_*"
    context.lake.create_table(bronze_table("sales"), SCHEMA)
    assert context.lake.load(bronze_table("sales")).properties[OWNER_PROPERTY] == PROJECT


def test_staging_and_production_use_separate_namespaces(tmp_path: Path) -> None:
    production = ProjectContext(isolated_settings(tmp_path))
    staging = ProjectContext(isolated_settings(tmp_path, deployment_environment="staging"))
    database = production.settings.aws.athena.database
    assert production.lake.database == database == environment_database(database, "production")
    assert staging.lake.database == f"{database}_staging"
    staging.lake.create_table(PREDICTIONS_TABLE, SCHEMA)
    staging.lake.append(PREDICTIONS_TABLE, pa.table({"id": ["smoke"]}, schema=SCHEMA))
    # One catalog, two namespaces: staging's smoke rows are not in production's table.
    assert staging.lake.exists(PREDICTIONS_TABLE)
    assert not production.lake.exists(PREDICTIONS_TABLE)


def test_mlflow_basic_auth_variables_leave_the_local_client_working(
    context: ProjectContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the compose and ECS stacks set for MLflow's basic-auth app."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ml-platform")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-a-real-password")
    experiment = context.mlflow.get_or_create_experiment()
    assert experiment
    assert context.mlflow.get_version(context.settings.model_name, "production") is None
