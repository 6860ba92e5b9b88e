"""Secure defaults: no open production server by accident, staging apart from production
(that the lake writes only this project's tables: test_lake.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from src.context import ProjectContext
from src.names import PREDICTIONS_TABLE, environment_database
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
