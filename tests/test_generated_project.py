"""Setup of the default render; the regression render's checks and suite, as users run them.

These run the rendered project's real Makefile targets on the embedded defaults (no AWS
account, no Docker): the slowest tests of the template, marked `slow`. The loop itself
(train-local, serve, batch-inference, drift-check) is the generated suite's
tests/e2e/test_makefile.py, which runs in the default render's CI workflow
(tests/test_ci_workflow.py) and in the own-data walk-through (tests/test_own_data.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_suite_passed, render, run, run_ok
from tests.test_locks import env_with_pythons

pytestmark = pytest.mark.slow

# Python 3.12 here, 3.13 in tests/test_locks.py, 3.11 in every other render.
ALTERNATIVE = {
    "python_version": "3.12",
    "problem_type": "regression",
    "include_airflow": "no",
    "include_monitoring_stack": "no",
    "ci_provider": "none",
    "license": "Apache-2.0",
    "project_name": "Patient Progression",
}


@pytest.fixture(scope="module")
def alternative_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The render, and the environment whose PATH offers its Python."""
    project = render(tmp_path_factory.mktemp("alternative"), **ALTERNATIVE)
    env = env_with_pythons(tmp_path_factory.mktemp("pythons"), [ALTERNATIVE["python_version"]])
    run_ok(["make", "setup"], project, env=env)
    return project, env


# What make echoes when setup runs one of its own steps (the rest is DVC's: stages).
SETUP_STEP_COMMANDS = {
    "dvc-remote": "python -m src data-remote",
    "raw-data": "dvc add --quiet data/raw",
    "sample-data": "python -m src sample-data",
    "mlflow": "python -m src init-mlflow",
    "hooks": "pre-commit install",
}


def setup_steps_run(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {step for step, command in SETUP_STEP_COMMANDS.items() if command in result.stdout}


def stages_run(result: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"^Running stage '([\w-]+)'", result.stdout, flags=re.MULTILINE))


def test_setup_is_idempotent(default_project: Path) -> None:
    result = run_ok(["make", "setup"], default_project)
    assert setup_steps_run(result) == set(), "a rerun starts none of setup's own steps"
    assert stages_run(result) == set(), result.stdout
    assert "Data and pipelines are up to date." in result.stdout
    assert (default_project / "uv.lock").is_file(), "setup pins the dependencies in uv.lock"
    assert (default_project / ".git" / "hooks" / "pre-commit").is_file()


def test_setup_reruns_the_steps_whose_input_changed_and_no_other(default_project: Path) -> None:
    remote_config = default_project / ".dvc" / "config.local"
    remote_config.unlink()
    result = run_ok(["make", "setup"], default_project)
    assert (setup_steps_run(result), stages_run(result)) == ({"dvc-remote"}, set())
    assert remote_config.is_file()
    # A comment changes the file DVC hashes, not the rules: silver runs again, writes the
    # same rows, and gold stays.
    quality = default_project / "config" / "quality.yaml"
    quality.write_text(quality.read_text() + "# reviewed\n")
    result = run_ok(["make", "setup"], default_project)
    assert (setup_steps_run(result), stages_run(result)) == (set(), {"silver"})
    assert "Stage 'gold' didn't change, skipping" in result.stdout
    # A changed raw file: DVC versions data/raw again and reruns the chain from ingest;
    # the sample data is not written again, since data/raw holds files.
    raw_file = sorted((default_project / "data" / "raw").rglob("*.csv"))[0]
    raw_file.write_bytes(raw_file.read_bytes() + b"\n")
    versioned = (default_project / "data" / "raw.dvc").read_text()
    result = run_ok(["make", "setup"], default_project)
    assert setup_steps_run(result) == set()
    assert {"ingest", "bronze"} <= stages_run(result)
    assert "ingest: 1 files copied, 9 already in place" in result.stdout
    assert (default_project / "data" / "raw.dvc").read_text() != versioned
    again = run_ok(["make", "setup"], default_project)
    assert (setup_steps_run(again), stages_run(again)) == (set(), set())


# The default render's checks and suite run in its CI workflow (tests/test_ci_workflow.py);
# the regression render runs the branches only it has.
@pytest.mark.parametrize("target", ["lint", "typecheck", "security"])
def test_alternative_project_is_clean(
    alternative_project: tuple[Path, dict[str, str]], target: str
) -> None:
    project, env = alternative_project
    run_ok(["make", target], project, env=env)


def test_alternative_suite_passes(alternative_project: tuple[Path, dict[str, str]]) -> None:
    project, env = alternative_project
    assert_suite_passed(run(["make", "test"], project, timeout=1800, env=env))
