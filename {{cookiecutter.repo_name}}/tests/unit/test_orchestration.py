"""Names and commands of the steps that run as ECS tasks, and the setting that chooses."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from src.data.lake import DataInterval
from src.errors import ConfigError
from src.orchestration import (
    ECS_STEPS,
    REPO_NAME,
    container_command,
    parse_step,
    result_key,
    task_definition_family,
)
from tests.conftest import isolated_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_each_step_has_its_own_family_named_after_the_project() -> None:
    families = [task_definition_family(step, "production") for step in ECS_STEPS]
    assert families == [f"{REPO_NAME}-production-{step}" for step in ECS_STEPS]
    assert len(set(families)) == len(ECS_STEPS) == 6
    # ECS family names: letters, digits, hyphens and underscores, at most 255.
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,255}", family) for family in families)


def test_a_bad_environment_or_step_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="environment 'pr od'"):
        task_definition_family("gold", "pr od")
    with pytest.raises(ConfigError, match="unknown step 'platinum'"):
        parse_step("platinum")
    assert parse_step("drift-check") == "drift-check"


def test_result_keys_are_plain_whatever_the_run_id() -> None:
    key = result_key("runs", "data_pipeline", "scheduled__2025-01-02T00:00:00+00:00", "build_gold")
    assert key == "runs/data_pipeline/scheduled__2025-01-02T00_00_00_00_00/build_gold.json"


def test_the_command_override_is_the_cli_behind_the_training_images_entrypoint() -> None:
    dockerfile = (PROJECT_ROOT / "docker" / "training.Dockerfile").read_text()
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, flags=re.MULTILINE)
    assert json.loads(entrypoint) == ["python", "-m", "src"]
    command = container_command(
        "silver", DataInterval(date(2025, 1, 1), date(2025, 1, 3)), "runs/k.json", "drift"
    )
    assert command == [
        "step",
        "silver",
        "--start",
        "2025-01-01",
        "--end",
        "2025-01-03",
        "--result-key",
        "runs/k.json",
        "--reason",
        "drift",
    ]


def test_runner_ecs_needs_aws_and_a_network(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs APP_ENV=aws"):
        isolated_settings(tmp_path, orchestration={"runner": "ecs"})
    with pytest.raises(ValidationError, match=r"needs aws\.ecs\.subnets"):
        isolated_settings(tmp_path, app_env="aws", orchestration={"runner": "ecs"})
    settings = isolated_settings(tmp_path)
    assert settings.orchestration.runner == "local"
