"""The names the runtime and the stacks share, and the command a step's container runs."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from src.data.intervals import DataInterval
from src.errors import ConfigError
from src.names import (
    ECS_STEPS,
    REPO_NAME,
    container_command,
    parse_step,
    result_key,
    task_definition_family,
)
from tests.conftest import PROJECT_ROOT, isolated_settings


def test_each_step_has_its_own_family_and_bad_names_are_refused() -> None:
    families = [task_definition_family(step, "production") for step in ECS_STEPS]
    assert families == [f"{REPO_NAME}-production-{step}" for step in ECS_STEPS]
    with pytest.raises(ConfigError, match="environment 'pr od'"):
        task_definition_family("gold", "pr od")
    with pytest.raises(ConfigError, match="unknown step 'platinum'"):
        parse_step("platinum")
    # Run ids hold ':' and '+': result keys stay plain.
    key = result_key("runs", "data", "scheduled__2025-01-02T00:00:00+00:00", "gold")
    assert key == "runs/data/scheduled__2025-01-02T00_00_00_00_00/gold.json"


def test_the_command_override_is_the_cli_behind_the_training_images_entrypoint() -> None:
    dockerfile = (PROJECT_ROOT / "docker" / "training.Dockerfile").read_text()
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, flags=re.MULTILINE)
    assert json.loads(entrypoint) == ["python", "-m", "src"]
    # The override's options (test_dags.py checks the others a launch passes).
    interval = DataInterval(date(2025, 1, 1), date(2025, 1, 3))
    assert container_command("silver", interval, "k", "drift")[-2:] == ["--reason", "drift"]


def test_runner_ecs_needs_aws_and_a_network(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs APP_ENV=aws"):
        isolated_settings(tmp_path, orchestration={"runner": "ecs"})
    with pytest.raises(ValidationError, match=r"needs aws\.ecs\.subnets"):
        isolated_settings(tmp_path, app_env="aws", orchestration={"runner": "ecs"})
