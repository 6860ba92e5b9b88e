"""The data commands' argument handling, in process (no lake is touched)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from src.cli import app
from src.context import build_context
from src.settings import get_settings
from tests.conftest import isolated_env


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_init_aws_refuses_to_run_outside_aws_mode(local_env: None) -> None:
    result = CliRunner().invoke(app, ["init-aws"])
    assert result.exit_code == 1
    assert "error: init-aws creates AWS resources and runs with APP_ENV=aws (now local)" in (
        result.output
    )


def test_an_unknown_step_is_refused_by_name(local_env: None) -> None:
    arguments = ["data-pipeline", "--start", "2025-01-01", "--step", "platinum"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 1
    assert "unknown step 'platinum'; the steps are bronze, silver, gold" in result.output


def test_features_lists_every_definition_with_entity_and_source(local_env: None) -> None:
    view = build_context().view
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["features"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if view.table in line]
    assert len(rows) == len(view.features)
    assert all(view.entity.name in row for row in rows)
    assert result.output.strip().splitlines()[-1] == (
        f"{len(view.features)} features of {view.name}; label {view.label.name}"
    )
